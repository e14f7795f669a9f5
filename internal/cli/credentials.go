package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// The CLI keeps its sessions in <config dir>/credentials.json, one per API URL, readable by
// its owner only (0600, in a 0700 directory). The file is replaced atomically (a temporary
// file renamed over it), so a crash never leaves half a token behind.

const credentialsFile = "credentials.json"

// savedSession is what the CLI remembers of a sign-in.
type savedSession struct {
	Token     string `json:"token"`
	SessionID string `json:"sessionId"`
	Username  string `json:"username"`
	Method    string `json:"method"`
	ExpiresAt string `json:"expiresAt"`
}

type credentials struct {
	Servers map[string]savedSession `json:"servers"`
}

func loadCredentials(dir string) (*credentials, error) {
	c := &credentials{Servers: map[string]savedSession{}}
	path := filepath.Join(dir, credentialsFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, c); err != nil {
		return nil, fmt.Errorf("%s is not valid JSON: %w (delete it and sign in again)", path, err)
	}
	if c.Servers == nil {
		c.Servers = map[string]savedSession{}
	}
	return c, nil
}

func (c *credentials) save(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".credentials-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after the rename, a no-op
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), filepath.Join(dir, credentialsFile))
}

// checkMode warns when the credentials file is readable by others (it was copied or edited
// by hand).
func checkMode(dir string) error {
	st, err := os.Stat(filepath.Join(dir, credentialsFile))
	if err != nil {
		return nil
	}
	if st.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("%s is readable by other users (mode %v): run chmod 600 on it", filepath.Join(dir, credentialsFile), st.Mode().Perm())
	}
	return nil
}
