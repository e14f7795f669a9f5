package redisstore

import (
	"errors"
	"go/ast"
	"go/parser"
	gotoken "go/token"
	"net/http"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/clock"
	"github.com/authgraph/authgraph/internal/errmap"
	"github.com/authgraph/authgraph/internal/redistest"
	"github.com/authgraph/authgraph/internal/token"
)

// waitedMethods sorts every method of auth.Store for WithReplicaWait: a method that creates a
// credential (something that lets someone in) or revokes one (something that stops a way in,
// including the use of a one-time credential, whose loss would allow a replay) waits for the
// replicas; nothing else does. A method added to auth.Store fails the test below until it has
// a row here, so that no new way to create or revoke a credential skips the wait.
var waitedMethods = map[string]struct {
	waits bool
	why   string
}{
	"CreateUser":            {true, "a new user has a password"},
	"SetPasswordHash":       {true, "a new password revokes the old one"},
	"UpdateUser":            {true, "disabling a user, or a password version bump, revokes sessions"},
	"DeleteUser":            {true, "revokes every credential of the user"},
	"DeleteAccount":         {true, "revokes the account's users"},
	"SetEmail":              {true, "an email address is a way in (sign-in by emailed code)"},
	"RenameUser":            {false, "a username names an account; the password is the credential"},
	"User":                  {false, "a read"},
	"UserByUsername":        {false, "a read"},
	"AccountsWithUsername":  {false, "a read"},
	"ListUsers":             {false, "a read"},
	"CountUsers":            {false, "a read"},
	"CreateAccount":         {false, "an account holds no credential; its users do"},
	"Account":               {false, "a read"},
	"AccountBySlug":         {false, "a read"},
	"LastAccountID":         {false, "a read"},
	"UpdateAccount":         {false, "account settings, no credential"},
	"AccountsByID":          {false, "a read"},
	"UsersByID":             {false, "a read"},
	"UsersWithTOTP":         {false, "a read"},
	"CreateKey":             {true, "a new user key"},
	"Key":                   {false, "a read"},
	"KeysOf":                {false, "a read"},
	"SetKeyHash":            {true, "a rerolled key secret revokes the old one"},
	"UpdateKey":             {true, "a key's expiry or scopes bound what it lets in"},
	"DeleteKey":             {true, "revokes a key and its sessions"},
	"CreateSession":         {true, "a new session token"},
	"SessionByDigest":       {false, "a read"},
	"SessionsOf":            {false, "a read"},
	"TouchSession":          {false, "LastUsedAt only, on every request: losing one costs an idle timeout a few seconds"},
	"DeleteSession":         {true, "revokes a session"},
	"DeleteSessionsOf":      {true, "revokes sessions and families"},
	"CreateFamily":          {true, "a new refresh token and access session"},
	"FamilyByRefreshDigest": {false, "a read"},
	"Rotate":                {true, "a new token pair, and the presented token (or the family) revoked"},
	"RevokeFamily":          {true, "revokes a family"},
	"SetPendingTOTP":        {false, "an enrolment not yet confirmed lets nobody in"},
	"PendingTOTP":           {false, "a read"},
	"EnableTOTP":            {true, "a second factor and its recovery codes"},
	"TOTP":                  {false, "a read"},
	"UseTOTPStep":           {true, "a used step must stay used (replay)"},
	"UseRecoveryCode":       {true, "a used recovery code must stay used (replay)"},
	"DisableTOTP":           {true, "revokes the second factor"},
	"CreateEmailToken":      {false, "a lost one is a link that does not work: the user asks again"},
	"ConsumeEmailToken":     {true, "a used one-time token must stay used (replay)"},
	"EmailToken":            {false, "a read"},
	"SetEmailCode":          {false, "a lost one is a code that does not work: the user asks again"},
	"ConsumeEmailCode":      {true, "a used one-time code must stay used (replay)"},
	"UserByEmail":           {false, "a read"},
	"SavePasskeyCeremony":   {false, "a lost ceremony fails the sign-in, which is retried"},
	"TakePasskeyCeremony":   {false, "a challenge is signed by the authenticator and checked once; a replay also needs the signature counter"},
	"CreatePasskey":         {true, "a new passkey"},
	"PasskeysOf":            {false, "a read"},
	"PasskeyByCredentialID": {false, "a read"},
	"UpdatePasskey":         {false, "the signature counter and name, on every passkey sign-in"},
	"DeletePasskey":         {true, "revokes a passkey"},
	"CreateAuthFlow":        {false, "a lost flow fails the sign-in, which is retried"},
	"ConsumeAuthFlow":       {false, "the provider's code is single-use at the provider too"},
	"LinkIdentity":          {true, "a linked identity is a way in"},
	"IdentityBySubject":     {false, "a read"},
	"IdentitiesOf":          {false, "a read"},
	"UnlinkIdentity":        {true, "revokes a way in"},
	"Ping":                  {false, "a health check"},
	// Service accounts and their keys, and the one-time codes of app sign-ins.
	"CreateServiceAccount": {false, "an account without a key lets nobody in"},
	"ServiceAccount":       {false, "a read"},
	"ServiceAccountsOf":    {false, "a read"},
	"UpdateServiceAccount": {true, "disabling a service account revokes its keys"},
	"DeleteServiceAccount": {true, "revokes every key of the service account"},
	"CreateServiceKey":     {true, "a new service key"},
	"ServiceKey":           {false, "a read"},
	"ServiceKeysOf":        {false, "a read"},
	"UpdateServiceKey":     {true, "a rotated secret, an expiry, a revocation"},
	"DeleteServiceKey":     {true, "revokes a service key"},
	"ServiceKeyByDigest":   {false, "a read"},
	"CreateAppCode":        {false, "a lost code fails the app's sign-in, which is retried"},
	"ConsumeAppCode":       {true, "a used one-time code must stay used (replay)"},
}

// Every method of auth.Store has a row, and waitingStore defines exactly the waited ones (a
// method it does not define is the wrapped store's, answered without a wait).
func TestEveryStoreMethodIsClassifiedForReplicaWait(t *testing.T) {
	iface := reflect.TypeFor[auth.Store]()
	for i := range iface.NumMethod() {
		if _, ok := waitedMethods[iface.Method(i).Name]; !ok {
			t.Errorf("auth.Store.%s has no row in waitedMethods: decide whether it creates or revokes a credential", iface.Method(i).Name)
		}
	}
	for name := range waitedMethods {
		if _, ok := iface.MethodByName(name); !ok {
			t.Errorf("waitedMethods has a row for %s, which auth.Store no longer has", name)
		}
	}
	fset := gotoken.NewFileSet()
	f, err := parser.ParseFile(fset, "replicawait.go", nil, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	var defined []string
	for _, d := range f.Decls {
		fn, ok := d.(*ast.FuncDecl)
		if !ok || fn.Recv == nil || !fn.Name.IsExported() {
			continue
		}
		if star, ok := fn.Recv.List[0].Type.(*ast.StarExpr); ok {
			if id, ok := star.X.(*ast.Ident); ok && id.Name == "waitingStore" {
				defined = append(defined, fn.Name.Name)
			}
		}
	}
	for name, row := range waitedMethods {
		own := slices.Contains(defined, name)
		switch {
		case row.waits && !own:
			t.Errorf("%s waits for replicas by its row, but waitingStore does not define it", name)
		case !row.waits && own:
			t.Errorf("%s does not wait by its row, but waitingStore defines it", name)
		}
	}
}

// Without a replica to acknowledge it, a credential write answers a NotReplicatedError,
// which is ErrUnavailable: 503, retry. The primary has applied it (the orphan is harmless,
// see WithReplicaWait), and a retried revocation that finds its work done waits too
// instead of answering "not found".
func TestReplicaWaitWithoutReplicaIs503(t *testing.T) {
	srv := redistest.Start(t)
	inner := New(srv.Client, Options{Prefix: srv.Prefix, Clock: clock.Real{}})
	if s := WithReplicaWait(inner, srv.Client, ReplicaWait{Replicas: 0}); s != auth.Store(inner) {
		t.Fatal("WithReplicaWait with 0 replicas changed the store")
	}
	s := WithReplicaWait(inner, srv.Client, ReplicaWait{Replicas: 1, Timeout: 20 * time.Millisecond, Prefix: srv.Prefix})
	ctx := t.Context()

	u := &auth.User{AccountID: 1, Username: "alice", PasswordHash: "hash", Role: auth.RoleMember, CreatedAt: time.Now()}
	err := s.CreateUser(ctx, u)
	var nr *NotReplicatedError
	if !errors.As(err, &nr) || !errors.Is(err, auth.ErrUnavailable) || nr.Want != 1 || nr.Got != 0 {
		t.Fatalf("CreateUser without a replica: %v; want a NotReplicatedError (0 of 1)", err)
	}
	if st := errmap.Of(auth.ErrorCode(err)).Status; st != http.StatusServiceUnavailable {
		t.Errorf("a write not replicated is answered %d, want 503", st)
	}
	if _, err := inner.User(ctx, u.ID); err != nil {
		t.Fatalf("the primary did not keep the user it applied: %v", err)
	}

	k := &auth.UserKey{UserID: u.ID, Name: "k", SecretHash: "hash", CreatedAt: time.Now()}
	if err := inner.CreateKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	for i := range 2 { // the revocation, then its retry, which finds it done
		if _, err := s.DeleteKey(ctx, u.ID, k.ID); !errors.As(err, &nr) {
			t.Fatalf("DeleteKey (call %d) without a replica: %v; want a NotReplicatedError", i+1, err)
		}
	}
	// A read is never waited on.
	if _, err := s.KeysOf(ctx, u.ID); err != nil {
		t.Fatalf("KeysOf: %v", err)
	}
	// Nor is a write that fails: the error is the store's own.
	if err := s.CreateSession(ctx, &auth.Session{UserID: u.ID + 100, TokenDigest: token.Digest{1}, ExpiresAt: time.Now().Add(time.Hour)}); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("CreateSession of a missing user: %v; want ErrNotFound", err)
	}
}

// With a replica in sync, credential writes are confirmed; once the replica stops receiving
// (its link frozen), they answer 503 within the timeout instead of an acknowledgement that a
// failover would take back.
func TestReplicaWaitSentinel(t *testing.T) {
	r := redistest.StartReplicated(t)
	prefix := "rw:"
	s := WithReplicaWait(New(r.Client, Options{Prefix: prefix, Clock: clock.Real{}}), r.Client, ReplicaWait{Replicas: 1, Timeout: 200 * time.Millisecond, Prefix: prefix})
	ctx := t.Context()
	u := &auth.User{AccountID: 1, Username: "alice", PasswordHash: "hash", Role: auth.RoleMember, CreatedAt: time.Now()}
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatalf("CreateUser with a replica in sync: %v", err)
	}
	r.FreezeReplication()
	start := time.Now()
	err := s.CreateKey(ctx, &auth.UserKey{UserID: u.ID, Name: "k", SecretHash: "hash", CreatedAt: time.Now()})
	var nr *NotReplicatedError
	if !errors.As(err, &nr) {
		t.Fatalf("CreateKey with the replica cut off: %v; want a NotReplicatedError", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("the unconfirmed write took %v; the wait is bounded by 200ms", took)
	}
}

// On a Cluster, every primary is waited on, through a marker key in one of its own slots.
func TestReplicaWaitCluster(t *testing.T) {
	c := redistest.StartReplicatedCluster(t, 5*time.Second)
	prefix := "rw:"
	s := WithReplicaWait(New(c.Client, Options{Prefix: prefix, Clock: clock.Real{}}), c.Client, ReplicaWait{Replicas: 1, Timeout: time.Second, Prefix: prefix})
	ctx := t.Context()
	for i := range 5 {
		u := &auth.User{AccountID: 1, Username: "u" + string(rune('a'+i)), PasswordHash: "hash", Role: auth.RoleMember, CreatedAt: time.Now()}
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatalf("CreateUser on a cluster with replicas: %v", err)
		}
	}
	// Two replicas per primary are more than there are.
	s2 := WithReplicaWait(New(c.Client, Options{Prefix: prefix, Clock: clock.Real{}}), c.Client, ReplicaWait{Replicas: 2, Timeout: 20 * time.Millisecond, Prefix: prefix})
	u := &auth.User{AccountID: 1, Username: "z", PasswordHash: "hash", Role: auth.RoleMember, CreatedAt: time.Now()}
	if err := s2.CreateUser(ctx, u); !errors.Is(err, auth.ErrUnavailable) {
		t.Fatalf("CreateUser waiting for 2 replicas of 1: %v; want ErrUnavailable", err)
	}
}
