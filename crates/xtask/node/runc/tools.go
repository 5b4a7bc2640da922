//go:build tools

// Package runc only pins the node's OCI runtime that xtask builds.
package runc

import _ "github.com/opencontainers/runc"
