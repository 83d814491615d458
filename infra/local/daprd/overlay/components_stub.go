// Package components stands in for github.com/dapr/dapr/cmd/daprd/components
// in our slim daprd build (see ../README.md and ../../stack, build_daprd).
//
// Dapr's package registers every component behind the build tags
// "stablecomponents"/"allcomponents" and panics at init when neither tag is set.
// The build passes `-overlay` so that this empty file replaces the package's
// untagged panic file; the components we use are registered by
// ../cmd/daprd-todo/main.go instead.
package components
