// Command hongshan is the command line of the Hongshan voucher ledger: one
// subcommand per job of each role (the Science & Technology Bureau, the
// Finance Bureau, service agencies, auditors), built on the typed client.
//
// Human-readable tables by default, `-o json` for scripts. Exit codes: 0
// success, 1 the gateway refused the request (or the ledger failed to
// verify), 2 a usage error, 3 the gateway could not be reached.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/hongshan-ledger/hongshan/client"
)

// Exit codes.
const (
	exitOK       = 0
	exitRejected = 1
	exitUsage    = 2
	exitConnect  = 3
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

// run executes one command line and returns the exit code. Every error is
// printed here, once, on stderr.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	a := &app{stdout: stdout, stderr: stderr, getenv: getenv}
	err := a.dispatch(ctx, args)
	if err == nil {
		return exitOK
	}
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	fmt.Fprintf(stderr, "error: %s\n", message(err))
	var ue *usageError
	var ce *client.Error
	var fe *findingError
	switch {
	case errors.As(err, &ue):
		if ue.cmd != "" {
			fmt.Fprintf(stderr, "Run 'hongshan %s --help' for usage.\n", ue.cmd)
		}
		return exitUsage
	case errors.As(err, &ce), errors.As(err, &fe):
		return exitRejected
	default:
		return exitConnect
	}
}

// message renders err for people: a gateway rejection as
// "CODE: detail (remaining X)", anything else as is.
func message(err error) string {
	var ce *client.Error
	if errors.As(err, &ce) {
		return ce.Error()
	}
	var te *client.TransportError
	if errors.As(err, &te) {
		return fmt.Sprintf("cannot reach the gateway: %v", te)
	}
	return err.Error()
}

// usageError is a mistake on the command line or in a local input; cmd
// names the command whose help would have prevented it.
type usageError struct {
	cmd string
	msg string
}

func (e *usageError) Error() string { return e.msg }

func usagef(cmd, format string, args ...any) error {
	return &usageError{cmd: cmd, msg: fmt.Sprintf(format, args...)}
}

// findingError is a result that is not a rejection but must fail a script,
// such as a ledger that does not verify.
type findingError struct{ msg string }

func (e *findingError) Error() string { return e.msg }

// app is one invocation's settings and output.
type app struct {
	stdout, stderr io.Writer
	getenv         func(string) string
	global         globalFlags
}

// dispatch finds the command named by args and runs it.
func (a *app) dispatch(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("hongshan", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	a.global.register(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			writeRootHelp(a.stdout)
			return err
		}
		return usagef("", "%v", err)
	}
	rest := fs.Args()
	if len(rest) == 0 {
		writeRootHelp(a.stderr)
		return usagef("", "no command given")
	}
	if rest[0] == "help" {
		return a.help(rest[1:])
	}
	cmd, path, rest := find(commands(), rest)
	if cmd == nil {
		return usagef("", "unknown command %q", strings.Join(path, " "))
	}
	if cmd.run == nil { // a group: needs one of its subcommands
		if len(rest) > 0 && (rest[0] == "-h" || rest[0] == "--help" || rest[0] == "-help") {
			writeGroupHelp(a.stdout, path, cmd)
			return flag.ErrHelp
		}
		writeGroupHelp(a.stderr, path, cmd)
		if len(rest) == 0 {
			return usagef("", "%s needs a subcommand", strings.Join(path, " "))
		}
		return usagef("", "unknown command %q", strings.Join(append(path, rest[0]), " "))
	}
	return a.runLeaf(ctx, path, cmd, rest)
}

// help prints the help of the command named by args (hongshan help agency
// register).
func (a *app) help(args []string) error {
	if len(args) == 0 {
		writeRootHelp(a.stdout)
		return flag.ErrHelp
	}
	cmd, path, rest := find(commands(), args)
	if cmd == nil || len(rest) > 0 {
		return usagef("", "unknown command %q", strings.Join(args, " "))
	}
	if cmd.run == nil {
		writeGroupHelp(a.stdout, path, cmd)
	} else {
		fs := a.leafFlags(path, cmd)
		writeLeafHelp(a.stdout, path, cmd, fs)
	}
	return flag.ErrHelp
}

// find descends the command tree along args; it returns the command
// reached, its path, and the arguments left for it.
func find(cmds []*command, args []string) (*command, []string, []string) {
	var cur *command
	var path []string
	for len(args) > 0 {
		var next *command
		for _, c := range cmds {
			if c.name == args[0] {
				next = c
				break
			}
		}
		if next == nil {
			if cur == nil {
				return nil, []string{args[0]}, args[1:]
			}
			return cur, path, args
		}
		cur = next
		path = append(path, next.name)
		args = args[1:]
		if cur.run != nil {
			return cur, path, args
		}
		cmds = cur.subs
	}
	return cur, path, args
}

// leafFlags builds a leaf's flag set: its own flags plus the global ones,
// so `hongshan voucher list -o json` works as well as `hongshan -o json
// voucher list`.
func (a *app) leafFlags(path []string, cmd *command) *leafFlagSet {
	fs := flag.NewFlagSet("hongshan "+strings.Join(path, " "), flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	l := &leafFlagSet{FlagSet: fs}
	l.action = cmd.run(l)
	a.global.register(fs)
	return l
}

// runLeaf parses a leaf's flags (interspersed with its positional
// arguments), checks them, and runs it.
func (a *app) runLeaf(ctx context.Context, path []string, cmd *command, args []string) error {
	name := strings.Join(path, " ")
	l := a.leafFlags(path, cmd)
	pos, err := parseInterspersed(l.FlagSet, args)
	if errors.Is(err, flag.ErrHelp) {
		writeLeafHelp(a.stdout, path, cmd, l)
		return err
	}
	if err != nil {
		return usagef(name, "%v", err)
	}
	if len(pos) != len(cmd.args) {
		if len(cmd.args) == 0 {
			return usagef(name, "%s takes no arguments, got %q", name, strings.Join(pos, " "))
		}
		return usagef(name, "%s needs %s", name, strings.Join(cmd.args, " "))
	}
	for _, f := range l.required {
		if fl := l.Lookup(f); fl != nil && fl.Value.String() == "" {
			return usagef(name, "--%s is required", f)
		}
	}
	if err := a.global.check(); err != nil {
		return usagef(name, "%v", err)
	}
	if l.check != nil {
		if err := l.check(); err != nil {
			return usagef(name, "%v", err)
		}
	}
	return l.action(ctx, a, pos)
}

// parseInterspersed parses flags that may come before, between or after
// positional arguments; everything after "--" is positional.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}
