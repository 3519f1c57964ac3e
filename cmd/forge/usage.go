package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/forge-ml/forge/workspace"
)

// usageError is a mistake in how forge was called (exit 2): a flag, an
// argument count, an unknown command. It is one kind with the workspace's
// usage errors: errors.Is(err, workspace.ErrUsage) holds for both, so that
// exitCode has one case for them and no error text is ever read.
type usageError struct{ err error }

func (u usageError) Error() string        { return u.err.Error() }
func (u usageError) Unwrap() error        { return u.err }
func (u usageError) Is(target error) bool { return target == workspace.ErrUsage }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// markUsage makes cobra's own errors usage errors where cobra returns them:
// cobra's errors are plain, without a type. Flag parsing goes through the
// flag error function and argument counts through each command's Args
// validator (help and completion included, so they are added here rather
// than when the root runs); required flags are checked by the root's
// PersistentPreRunE (checkRequiredFlags), and an unknown command, which
// cobra reports before running anything of forge's, by Main.
func markUsage(root *cobra.Command) {
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError{err} })
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if v := c.Args; v != nil {
			c.Args = func(cmd *cobra.Command, args []string) error {
				if err := v(cmd, args); err != nil {
					return usageError{err}
				}
				return nil
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

// checkRequiredFlags is cobra's required-flag check, run before cobra's so
// that a missing flag is a usage error.
func checkRequiredFlags(cmd *cobra.Command) error {
	if err := cmd.ValidateRequiredFlags(); err != nil {
		return usageError{err}
	}
	return nil
}
