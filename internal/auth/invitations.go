package auth

import (
	"context"
	"errors"
	"fmt"
	"net/url"

	"github.com/authgraph/authgraph/internal/audit"
	"github.com/authgraph/authgraph/internal/token"
)

// Invitation asks for a new user who sets their own password by the link of a mail.
type Invitation struct {
	Account  string // slug; "" is the default account
	Username string
	Email    string
	Role     Role // "" is MEMBER
}

// CreateInvitation makes a user with an unusable password and an unverified address, and
// queues an invitation mail whose link (valid 7 days, configurable) lets them set the
// password: an admin never chooses or sees it. A taken username or address in the account is
// CONFLICT. Admins (any account) and account admins (their own, "" meaning it) only,
// whatever the account's sign-up policy (INVITE is what lets only their invitations in).
func (s *Service) CreateInvitation(ctx context.Context, in Invitation) (ret *User, rerr error) {
	defer func() { s.noteUser(ctx, audit.InvitationCreated, ret, rerr, "") }()
	p, err := requireUserAdmin(ctx)
	if err != nil {
		return nil, err
	}
	if in.Role == "" {
		in.Role = RoleMember
	}
	if err := grantable(p, in.Role); err != nil {
		return nil, err
	}
	if in.Account, err = s.accountForManager(ctx, p, in.Account); err != nil {
		return nil, err
	}
	addr, err := NormalizeEmail(in.Email)
	if err != nil {
		return nil, err
	}
	if err := s.checkLimit(ctx, AttemptMail, ClientFrom(ctx).IP, addr); err != nil {
		return nil, err
	}
	// The password is 256 random bits nobody ever sees: the user exists, but no password
	// signs them in until AcceptInvitation sets theirs.
	unusable, err := token.New(token.Emailed)
	if err != nil {
		return nil, fmt.Errorf("create invitation: %w", err)
	}
	u, err := s.createUserWith(ctx, in.Account, in.Username, unusable, in.Role, func(string) error { return nil })
	if err != nil {
		return nil, err
	}
	id := u.ID
	u, err = s.emails.SetEmail(ctx, id, addr, false)
	if err != nil {
		// Taken back: an invitation that cannot be mailed leaves no user behind.
		_, _ = s.users.DeleteUser(ctx, id)
		if errors.Is(err, ErrConflict) {
			return nil, Errorf(CodeConflict, "that email address belongs to another user")
		}
		return nil, fmt.Errorf("create invitation: %w", err)
	}
	tok, err := s.issueEmailToken(ctx, PurposeInvite, u.ID, passwordBinding(PurposeInvite, u))
	if err != nil {
		return nil, err
	}
	a, err := s.accounts.Account(ctx, u.AccountID)
	if err != nil {
		return nil, fmt.Errorf("create invitation: %w", err)
	}
	return u, s.sendMail(ctx, Mail{
		ID: mailID(MailInvitation), To: addr, ToName: u.Username, Kind: MailInvitation,
		Link: accountLink("invite", url.Values{"token": {tok}}),
		Data: map[string]string{"account": a.Name},
	})
}

// AcceptInvitation sets the password of an invited user with the token of their invitation
// mail, and marks their address verified (the mail reached it). The password must pass the
// policy; the token is single use and TOKEN_INVALID once used, expired or voided.
func (s *Service) AcceptInvitation(ctx context.Context, tok, password string) (ret *User, rerr error) {
	defer func() { s.noteToken(ctx, audit.InvitationAccepted, ret, rerr) }()
	if err := s.checkLimit(ctx, AttemptEmailToken, ClientFrom(ctx).IP, ""); err != nil {
		return nil, err
	}
	return s.setPasswordByToken(ctx, PurposeInvite, tok, password, "")
}
