package main

import (
	"context"
	"crypto/rand"
	"fmt"

	"github.com/rs/zerolog"

	"github.com/authgraph/authgraph/internal/auth"
)

// devAdminName is the admin that a development server on the embedded store makes when no
// admin is configured, so that `make run` with no variables leads to a working sign-in.
const devAdminName = "admin"

// ensureDevAdmin makes devAdminName with a random password on the embedded store when no
// admin is configured (AUTHGRAPH_ADMIN_USERNAME and _PASSWORD unset), outside production,
// and prints the password once in the log.
//
// Printing a password breaks the rule that no secret reaches a log, and this is its single
// exception: the embedded store lives in this process's memory only, so the account dies
// with the process, each start makes a new password, and the server is a throwaway one for
// development. Redis (data that outlives the process) and production never get here.
func ensureDevAdmin(ctx context.Context, cfg Config, svc *auth.Service, logger zerolog.Logger) error {
	if cfg.RedisURL != "" || cfg.AdminUsername != "" || cfg.Env == "production" {
		return nil
	}
	if logger.GetLevel() > zerolog.WarnLevel {
		return nil // the log would not show the password: an admin nobody can sign in as
	}
	password := rand.Text() // 26 base32 characters: 130 bits from crypto/rand
	made, err := svc.EnsureUser(ctx, devAdminName, password, auth.RoleAdmin)
	if err != nil {
		return fmt.Errorf("development admin: %w", err)
	}
	if made {
		logger.Warn().Str("username", devAdminName).Str("password", password).
			Msg(`created a development admin: sign in as "admin" with the password below`)
	}
	return nil
}
