package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode/utf8"

	"github.com/hongshan-ledger/hongshan/client"
)

// Password bounds of the gateway (gateway/auth), checked here first so a
// typo costs no round trip.
const (
	minPasswordLen = 10
	maxPasswordLen = 128
	// maxPasswordFileBytes bounds what a password file is read for.
	maxPasswordFileBytes = 4 << 10
)

// stdin is where "-" reads a password from (a variable for tests).
var stdin io.Reader = os.Stdin

// principalPasswdCmd is `hongshan principal passwd NAME`: it sets the web
// console password of NAME. Passwords come from files or standard input,
// never from arguments, which other users can see in ps.
func principalPasswdCmd(l *leafFlagSet) action {
	newFile := l.req("password-file", "`FILE` whose first line is the new password; - reads standard input")
	curFile := l.str("current-password-file", "", "`FILE` whose first line is your current password, to change your own once it is set; - reads standard input")
	l.check = func() error {
		if *newFile == "-" && *curFile == "-" {
			return &usageError{msg: "--password-file and --current-password-file cannot both read standard input"}
		}
		return nil
	}
	return func(ctx context.Context, a *app, pos []string) error {
		pw, err := readPassword("--password-file", *newFile)
		if err != nil {
			return err
		}
		if n := utf8.RuneCountInString(pw); n < minPasswordLen || n > maxPasswordLen {
			return &usageError{msg: fmt.Sprintf("the new password must be %d to %d characters, not %d", minPasswordLen, maxPasswordLen, n)}
		}
		var current string
		if *curFile != "" {
			if current, err = readPassword("--current-password-file", *curFile); err != nil {
				return err
			}
		}
		ctx, c, err := a.connect(ctx)
		if err != nil {
			return err
		}
		if err := c.SetPassword(ctx, pos[0], client.PasswordChange{Current: current, New: pw}); err != nil {
			return err
		}
		out := struct {
			Name        string `json:"name"`
			PasswordSet bool   `json:"password_set"`
		}{pos[0], true}
		return a.emit(out, func(w io.Writer) error {
			_, err := fmt.Fprintf(w, "Password of %s set; its other console sessions have ended.\n", pos[0])
			return err
		})
	}
}

// readPassword reads the first line of path ("-": standard input).
func readPassword(flagName, path string) (string, error) {
	var r io.Reader
	if path == "-" {
		r = stdin
	} else {
		f, err := os.Open(path)
		if err != nil {
			return "", &usageError{msg: fmt.Sprintf("%s: %v", flagName, err)}
		}
		defer f.Close()
		r = f
	}
	line, err := bufio.NewReaderSize(io.LimitReader(r, maxPasswordFileBytes), maxPasswordFileBytes).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", &usageError{msg: fmt.Sprintf("%s: %v", flagName, err)}
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", &usageError{msg: fmt.Sprintf("%s: no password on its first line", flagName)}
	}
	return pw, nil
}
