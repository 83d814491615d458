// Command bcrypt-hash prints the bcrypt hash (cost 10) of the password read on
// standard input (one trailing newline is dropped). infra/local/dex uses it to
// put the test users' password hashes into the Dex config it writes, so that no
// hash is committed. It is built from the same module graph as Dex.
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

func main() {
	raw, err := io.ReadAll(bufio.NewReader(os.Stdin))
	if err != nil {
		fmt.Fprintln(os.Stderr, "bcrypt-hash: reading stdin:", err)
		os.Exit(1)
	}
	password := strings.TrimSuffix(strings.TrimSuffix(string(raw), "\n"), "\r")
	if password == "" {
		fmt.Fprintln(os.Stderr, "bcrypt-hash: empty password")
		os.Exit(1)
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), 10)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bcrypt-hash:", err)
		os.Exit(1)
	}
	fmt.Println(string(hash))
}
