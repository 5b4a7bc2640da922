//go:build tools

// Package agetool only pins the age command xtask builds.
package agetool

import _ "filippo.io/age/cmd/age"
