// Package owndir opens a folder inside a directory another user owns, for
// a root process writing there (`sudo facegate relay pulse`, `sudo
// facegate model install` in the daemon user's state directory): that
// user may make the folder a symlink (to /etc) at any time, between any
// check and any use.
package owndir

import "errors"

// ErrNotOwn: the folder is a symlink or not a folder.
var ErrNotOwn = errors.New("not a folder of its own (a symlink?)")
