//go:build tools

// Package kubelet only pins the node's Kubernetes commands that xtask builds.
package kubelet

import (
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
