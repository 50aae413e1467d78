package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/hongshan-ledger/hongshan/client"
)

// Defaults and bounds of the command line.
const (
	defaultURL     = "http://127.0.0.1:8080"
	defaultTimeout = 30 * time.Second
	// maxTokenFileBytes bounds what --token-file reads: a token is short.
	maxTokenFileBytes = 4 << 10
	// retryAttempts and retryBackoff make a write safe to retry, since every
	// write carries an Idempotency-Key.
	retryAttempts = 3
	retryBackoff  = 200 * time.Millisecond
	userAgent     = "hongshan-cli/1"
)

// globalFlags configure how the command reaches the gateway and prints.
type globalFlags struct {
	url, token, tokenFile string
	output                string
	timeout               time.Duration
	idempotencyKey        string
}

// globalFlagNames lists the flags every command accepts, for help texts.
var globalFlagNames = []string{"url", "token", "token-file", "o", "output", "timeout", "idempotency-key"}

// register adds the global flags to fs, keeping values already parsed.
func (g *globalFlags) register(fs *flag.FlagSet) {
	if g.output == "" {
		g.output = formatTable
	}
	if g.timeout == 0 {
		g.timeout = defaultTimeout
	}
	fs.StringVar(&g.url, "url", g.url, "gateway URL (env HONGSHAN_URL; default "+defaultURL+")")
	fs.StringVar(&g.token, "token", g.token, "bearer token (env HONGSHAN_TOKEN; prefer it or --token-file, since arguments show in ps)")
	fs.StringVar(&g.tokenFile, "token-file", g.tokenFile, "file holding the bearer token, e.g. DATA_DIR/admin.token (env HONGSHAN_TOKEN_FILE)")
	fs.StringVar(&g.output, "o", g.output, "output format: table or json")
	fs.StringVar(&g.output, "output", g.output, "output format: table or json")
	fs.DurationVar(&g.timeout, "timeout", g.timeout, "time limit of each request to the gateway")
	fs.StringVar(&g.idempotencyKey, "idempotency-key", g.idempotencyKey, "Idempotency-Key of this write, to repeat it safely (default: a fresh random key)")
}

func (g *globalFlags) check() error {
	if g.output != formatTable && g.output != formatJSON && !fileFormat(g.output) {
		return fmt.Errorf("-o must be table or json, not %q", g.output)
	}
	if g.timeout <= 0 {
		return errors.New("--timeout must be positive")
	}
	return nil
}

// connect builds the client from the flags and environment. Precedence:
// --token, --token-file, HONGSHAN_TOKEN, HONGSHAN_TOKEN_FILE.
func (a *app) connect(ctx context.Context) (context.Context, *client.Client, error) {
	base := firstNonEmpty(a.global.url, a.getenv("HONGSHAN_URL"), defaultURL)
	token := a.global.token
	if token == "" && a.global.tokenFile != "" {
		t, err := readToken(a.global.tokenFile)
		if err != nil {
			return ctx, nil, err
		}
		token = t
	}
	if token == "" {
		token = a.getenv("HONGSHAN_TOKEN")
	}
	if token == "" {
		if f := a.getenv("HONGSHAN_TOKEN_FILE"); f != "" {
			t, err := readToken(f)
			if err != nil {
				return ctx, nil, err
			}
			token = t
		}
	}
	c, err := client.New(base,
		client.WithToken(token),
		client.WithTimeout(a.global.timeout),
		client.WithRetry(retryAttempts, retryBackoff),
		client.WithIdempotencyKeys(),
		client.WithUserAgent(userAgent),
	)
	if err != nil {
		return ctx, nil, &usageError{msg: err.Error()}
	}
	if a.global.idempotencyKey != "" {
		ctx = client.ContextWithIdempotencyKey(ctx, a.global.idempotencyKey)
	}
	return ctx, c, nil
}

// readToken reads a token file, bounded, and trims the line break.
func readToken(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", &usageError{msg: fmt.Sprintf("token file: %v", err)}
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxTokenFileBytes+1))
	if err != nil {
		return "", &usageError{msg: fmt.Sprintf("token file: %v", err)}
	}
	if len(b) > maxTokenFileBytes {
		return "", &usageError{msg: fmt.Sprintf("token file %s is over %d bytes: not a token", path, maxTokenFileBytes)}
	}
	return strings.TrimSpace(string(b)), nil
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// action runs a command with its positional arguments.
type action func(ctx context.Context, a *app, pos []string) error

// command is a node of the command tree: a group with subcommands, or a
// leaf with a run function that declares its flags and returns its action.
type command struct {
	name    string
	args    []string // positional argument names, e.g. {"ID"}
	summary string
	long    string // more help, shown by --help
	subs    []*command
	run     func(l *leafFlagSet) action
}

// leafFlagSet is a leaf's flags with the declarations the dispatcher
// enforces.
type leafFlagSet struct {
	*flag.FlagSet
	required []string
	// check validates combinations of flags after parsing.
	check  func() error
	action action
}

// str declares an optional string flag.
func (l *leafFlagSet) str(name, def, usage string) *string {
	return l.String(name, def, usage)
}

// req declares a string flag that must be given.
func (l *leafFlagSet) req(name, usage string) *string {
	l.required = append(l.required, name)
	return l.String(name, "", usage+" (required)")
}

// writeRootHelp is `hongshan --help`.
func writeRootHelp(w io.Writer) {
	var b strings.Builder
	b.WriteString(`hongshan — the command line of the Hongshan S&T innovation voucher ledger (红山科技创新券)

Usage:
  hongshan [global flags] COMMAND [SUBCOMMAND] [flags] [ARGS]

Commands:
`)
	t := newHelpTable()
	for _, c := range commands() {
		if c.run != nil {
			t.row("  "+c.name+argSynopsis(c), c.summary)
			continue
		}
		for _, s := range c.subs {
			t.row("  "+c.name+" "+s.name+argSynopsis(s), s.summary)
		}
	}
	_ = t.flush(&b)
	b.WriteString(`
Global flags (accepted before or after the command):
  --url URL              gateway URL (env HONGSHAN_URL; default ` + defaultURL + `)
  --token TOKEN          bearer token (env HONGSHAN_TOKEN); prefer the env or --token-file
  --token-file PATH      file holding the token, e.g. DATA_DIR/admin.token (env HONGSHAN_TOKEN_FILE)
  -o, --output FORMAT    table (default, for people) or json (for scripts)
  --timeout DURATION     time limit of each request (default 30s)
  --idempotency-key KEY  key of this write, to repeat it safely (default: a fresh one)

Exit codes: 0 success; 1 the gateway refused the request, or the ledger did
not verify; 2 usage error; 3 the gateway could not be reached.

Run 'hongshan COMMAND --help' for a command's flags.
`)
	_, _ = io.WriteString(w, b.String())
}

// writeGroupHelp is `hongshan agency --help`.
func writeGroupHelp(w io.Writer, path []string, c *command) {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n\nUsage:\n  hongshan %s SUBCOMMAND [flags]\n\nSubcommands:\n", c.summary, strings.Join(path, " "))
	t := newHelpTable()
	for _, s := range c.subs {
		t.row("  "+s.name+argSynopsis(s), s.summary)
	}
	_ = t.flush(&b)
	fmt.Fprintf(&b, "\nRun 'hongshan %s SUBCOMMAND --help' for its flags.\n", strings.Join(path, " "))
	_, _ = io.WriteString(w, b.String())
}

// writeLeafHelp is `hongshan agency register --help`: the command's own
// flags, then a pointer to the global ones.
func writeLeafHelp(w io.Writer, path []string, c *command, l *leafFlagSet) {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n\nUsage:\n  hongshan %s%s [flags]\n", c.summary, strings.Join(path, " "), argSynopsis(c))
	if c.long != "" {
		fmt.Fprintf(&b, "\n%s\n", strings.TrimSpace(c.long))
	}
	global := map[string]bool{}
	for _, n := range globalFlagNames {
		global[n] = true
	}
	var own []*flag.Flag
	l.VisitAll(func(f *flag.Flag) {
		if !global[f.Name] {
			own = append(own, f)
		}
	})
	if len(own) > 0 {
		b.WriteString("\nFlags:\n")
		t := newHelpTable()
		for _, f := range own {
			name, usage := flag.UnquoteUsage(f)
			left := "  --" + f.Name
			if name != "" {
				left += " " + strings.ToUpper(name)
			}
			if f.DefValue != "" && f.DefValue != "0" && f.DefValue != "false" {
				usage += fmt.Sprintf(" (default %s)", f.DefValue)
			}
			t.row(left, usage)
		}
		_ = t.flush(&b)
	}
	b.WriteString("\nGlobal flags: --url, --token, --token-file, -o/--output table|json, --timeout, --idempotency-key (see 'hongshan --help').\n")
	_, _ = io.WriteString(w, b.String())
}

func argSynopsis(c *command) string {
	if len(c.args) == 0 {
		return ""
	}
	return " " + strings.Join(c.args, " ")
}

// newHelpTable is a two-column table without a header, for help texts.
func newHelpTable() *table {
	t := newTable(column{}, column{})
	t.headerDone = true
	return t
}
