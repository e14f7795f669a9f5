package sessioncache

import (
	"context"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authgraph/authgraph/internal/auth"
)

// kind is what Store does with a method of auth.Store.
type kind int

const (
	passthrough kind = iota + 1 // the wrapped store's own method, through an embedded area
	cached                      // answered from the cache when it can
	invalidates                 // passed on, then publishes what it ended or changed
)

// storeMethods sorts every method of auth.Store. The rule (package doc): a method that ends
// a session, or changes what Authenticate reads of a session or a user, invalidates. A
// method added to auth.Store fails TestEveryStoreMethodIsClassified until it has a row here,
// so that nobody adds a way to end sessions that the other replicas do not hear of.
var storeMethods = map[string]struct {
	kind kind
	why  string
}{
	// Users.
	"User":                 {cached, "Authenticate reads the user on every request"},
	"CreateUser":           {passthrough, "a new user is not cached yet (misses are not cached)"},
	"UserByUsername":       {passthrough, "the sign-in path only, which the password hash dominates"},
	"AccountsWithUsername": {passthrough, "the sign-in path only"},
	"ListUsers":            {passthrough, "lists are not cached"},
	"CountUsers":           {passthrough, "counts are not cached"},
	"SetPasswordHash":      {invalidates, "changes the user record"},
	"UpdateUser":           {invalidates, "changes the user record: role, password, disabled"},
	"DeleteUser":           {invalidates, "ends the user and all their sessions"},
	"RenameUser":           {invalidates, "changes the user record: its username"},
	// Accounts: Authenticate reads none of them.
	"CreateAccount": {passthrough, "accounts are not cached"},
	"LastAccountID": {passthrough, "accounts are not cached"},
	"UpdateAccount": {passthrough, "accounts are not cached"},
	"DeleteAccount": {passthrough, "accounts are not cached; the users are deleted one by one (DeleteUser)"},
	"AccountsByID":  {passthrough, "accounts are not cached"},
	"UsersByID":     {passthrough, "batch reads are not cached; Authenticate reads one user (User)"},
	"UsersWithTOTP": {passthrough, "TOTP state is not cached"},

	"CreateEmailToken":  {passthrough, "emailed tokens are read once, never cached"},
	"ConsumeEmailToken": {passthrough, "emailed tokens are read once, never cached"},
	"EmailToken":        {passthrough, "emailed tokens are read once, never cached"},
	"SetEmailCode":      {passthrough, "emailed codes are read once, never cached"},
	"ConsumeEmailCode":  {passthrough, "emailed codes are read once, never cached"},
	"UserByEmail":       {passthrough, "the cache keeps users by id only"},
	"SetEmail":          {invalidates, "changes the user record: its email"},
	// Linked identities and authorization code flows: Authenticate reads none of them.
	"CreateAuthFlow":    {passthrough, "flows are read once, never cached"},
	"ConsumeAuthFlow":   {passthrough, "flows are read once, never cached"},
	"CreateAppCode":     {passthrough, "app codes are read once, never cached"},
	"ConsumeAppCode":    {passthrough, "app codes are read once, never cached"},
	"LinkIdentity":      {passthrough, "links are not cached; a session does not change with them"},
	"IdentityBySubject": {passthrough, "the sign-in path only"},
	"IdentitiesOf":      {passthrough, "lists are not cached"},
	"UnlinkIdentity":    {passthrough, "links are not cached; a session does not change with them"},
	"Account":           {passthrough, "accounts are not cached"},
	"AccountBySlug":     {passthrough, "accounts are not cached"},
	// Keys: not cached; sessions copy what they need of their key when made.
	"CreateKey":  {passthrough, "keys are not cached"},
	"Key":        {passthrough, "keys are not cached"},
	"KeysOf":     {passthrough, "keys are not cached"},
	"SetKeyHash": {passthrough, "keys are not cached, and a session does not change with its key"},
	"UpdateKey":  {passthrough, "keys are not cached, and a session does not change with its key"},
	"DeleteKey":  {invalidates, "the store ends the key's sessions, whose digests are not known here"},
	// Sessions.
	"SessionByDigest": {cached, "Authenticate reads the session on every request"},
	"CreateSession": {passthrough, "a new session is cached at its first use; the store checks " +
		"its credentials itself, never through this cache"},
	"SessionsOf":       {passthrough, "lists are not cached"},
	"TouchSession":     {invalidates, "the idle timeout reads LastUsedAt"},
	"DeleteSession":    {invalidates, "ends a session"},
	"DeleteSessionsOf": {invalidates, "ends the user's sessions"},
	// Refresh token families.
	"CreateFamily": {passthrough, "its first access session is cached at its first use"},
	"FamilyByRefreshDigest": {passthrough, "a refresh is rare next to the requests of its " +
		"access token, and must see revocations at once"},
	"Rotate":       {invalidates, "a reused refresh token revokes the family"},
	"RevokeFamily": {invalidates, "ends the family's access sessions"},
	// Second factors: checked at sign-in only, never by Authenticate.
	"SetPendingTOTP":  {passthrough, "Authenticate reads no second factor"},
	"PendingTOTP":     {passthrough, "Authenticate reads no second factor"},
	"EnableTOTP":      {passthrough, "Authenticate reads no second factor"},
	"TOTP":            {passthrough, "Authenticate reads no second factor"},
	"UseTOTPStep":     {passthrough, "Authenticate reads no second factor"},
	"UseRecoveryCode": {passthrough, "Authenticate reads no second factor"},
	"DisableTOTP":     {passthrough, "Authenticate reads no second factor"},
	// Passkeys: checked at sign-in only; deleting one ends no session.
	"SavePasskeyCeremony":   {passthrough, "Authenticate reads no passkey"},
	"TakePasskeyCeremony":   {passthrough, "Authenticate reads no passkey"},
	"CreatePasskey":         {passthrough, "Authenticate reads no passkey"},
	"PasskeysOf":            {passthrough, "Authenticate reads no passkey"},
	"PasskeyByCredentialID": {passthrough, "Authenticate reads no passkey"},
	"UpdatePasskey":         {passthrough, "Authenticate reads no passkey"},
	"DeletePasskey":         {passthrough, "Authenticate reads no passkey, and a session outlives the passkey it was made with"},
	// Service accounts and keys: x-api-key reads the key with its service account on every
	// request, so they are cached like sessions and every change publishes.
	"ServiceKeyByDigest":   {cached, "x-api-key reads the key and its service account on every request"},
	"CreateServiceAccount": {passthrough, "a new service account has no cached key"},
	"ServiceAccount":       {passthrough, "read to manage it, not to authenticate"},
	"ServiceAccountsOf":    {passthrough, "lists are not cached"},
	"UpdateServiceAccount": {invalidates, "disabling a service account stops all its keys"},
	"DeleteServiceAccount": {invalidates, "ends all the service account's keys"},
	"CreateServiceKey":     {passthrough, "a new key is cached at its first use"},
	"ServiceKey":           {passthrough, "read to manage it, not to authenticate"},
	"ServiceKeysOf":        {passthrough, "lists are not cached"},
	"UpdateServiceKey":     {invalidates, "a reroll ends the old secret (at once without grace)"},
	"DeleteServiceKey":     {invalidates, "ends the key"},
	// Health.
	"Ping": {passthrough, "a health check"},
}

// Every method of auth.Store has a row in storeMethods, and the code agrees with the row: a
// cached or invalidating method is defined by Store itself (else the embedded wrapped store
// would answer it, publishing nothing), a passthrough one is not (so that the table, not
// scattered forwarding code, says what passes through).
func TestEveryStoreMethodIsClassified(t *testing.T) {
	iface := reflect.TypeFor[auth.Store]()
	var unclassified []string
	for i := range iface.NumMethod() {
		if _, ok := storeMethods[iface.Method(i).Name]; !ok {
			unclassified = append(unclassified, iface.Method(i).Name)
		}
	}
	if len(unclassified) > 0 {
		t.Errorf("auth.Store methods with no row in storeMethods (decide whether each caches, invalidates or passes through): %v", unclassified)
	}
	for name := range storeMethods {
		if _, ok := iface.MethodByName(name); !ok {
			t.Errorf("storeMethods has a row for %s, which auth.Store no longer has", name)
		}
	}

	defined := methodsDefinedOnStore(t)
	for name, row := range storeMethods {
		own := slices.Contains(defined, name)
		switch {
		case row.kind == passthrough && own:
			t.Errorf("%s is classified passthrough but Store defines it: classify it as what it does, or drop the forwarding code", name)
		case row.kind != passthrough && !own:
			t.Errorf("%s is classified as cached or invalidating but Store does not define it: the wrapped store answers it and nothing is published", name)
		}
	}
	// The embedded areas must really give Store the whole interface.
	if !reflect.TypeFor[*Store]().Implements(iface) {
		t.Error("*Store does not implement auth.Store")
	}
}

// methodsDefinedOnStore parses the package's own (non-test) files and answers the names of
// the methods declared with a *Store receiver: those Store implements itself rather than
// through an embedded area.
func methodsDefinedOnStore(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var names []string
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Recv == nil || len(fn.Recv.List) != 1 {
				continue
			}
			star, ok := fn.Recv.List[0].Type.(*ast.StarExpr)
			if !ok {
				continue
			}
			if id, ok := star.X.(*ast.Ident); ok && id.Name == "Store" {
				names = append(names, fn.Name.Name)
			}
		}
	}
	if !slices.Contains(names, "SessionByDigest") {
		t.Fatalf("found no SessionByDigest among the methods of *Store (%v): the parse is wrong", names)
	}
	return names
}

// The table also holds at run time: called through Store over a wrapped store that fails
// without saying whether it did the work (ErrUnavailable), every invalidating method
// publishes, and no other method does.
func TestClassifiedMethodsPublishAsClassified(t *testing.T) {
	f := newFixture()
	bus := &countingBus{memBus: f.bus}
	s := New(unsure{f.inner}, bus, Options{Clock: f.clock})
	t.Cleanup(func() { _ = s.Close() })
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := s.WaitLive(ctx); err != nil {
		t.Fatal(err)
	}

	v := reflect.ValueOf(s)
	iface := reflect.TypeFor[auth.Store]()
	for i := range iface.NumMethod() {
		name := iface.Method(i).Name
		row, ok := storeMethods[name]
		if !ok {
			continue // TestEveryStoreMethodIsClassified reports it
		}
		m := v.MethodByName(name)
		args := []reflect.Value{reflect.ValueOf(t.Context())}
		for j := 1; j < m.Type().NumIn(); j++ {
			args = append(args, zeroArg(m.Type().In(j)))
		}
		before := bus.n.Load()
		m.Call(args)
		published := bus.n.Load() > before
		switch {
		case row.kind == invalidates && !published:
			t.Errorf("%s is classified as invalidating but published nothing when the store failed uncertainly (if it is new, make unsure fail it too)", name)
		case row.kind != invalidates && published:
			t.Errorf("%s is not classified as invalidating but published", name)
		}
	}
}

// zeroArg is an argument of type typ for a call that only has to reach the store: a fresh
// zero record for a pointer (the methods read fields of what they are given), else zero.
func zeroArg(typ reflect.Type) reflect.Value {
	if typ.Kind() == reflect.Pointer {
		return reflect.New(typ.Elem())
	}
	return reflect.Zero(typ)
}

type countingBus struct {
	*memBus
	n atomic.Int64
}

func (b *countingBus) Publish(ctx context.Context, msg []byte) error {
	b.n.Add(1)
	return b.memBus.Publish(ctx, msg)
}

// unsure fails every method that may end a session or change a user with ErrUnavailable,
// the answer after which Store cannot know whether the work was done; the rest it passes to
// the store it wraps.
type unsure struct{ auth.Store }

func (unsure) SetPasswordHash(context.Context, int64, string) error { return auth.ErrUnavailable }
func (unsure) UpdateUser(context.Context, int64, func(*auth.User) error) (*auth.User, error) {
	return nil, auth.ErrUnavailable
}
func (unsure) SetEmail(context.Context, int64, string, bool) (*auth.User, error) {
	return nil, auth.ErrUnavailable
}
func (unsure) RenameUser(context.Context, int64, string) (*auth.User, error) {
	return nil, auth.ErrUnavailable
}
func (unsure) DeleteUser(context.Context, int64) (*auth.User, error) {
	return nil, auth.ErrUnavailable
}
func (unsure) DeleteKey(context.Context, int64, int64) (*auth.UserKey, error) {
	return nil, auth.ErrUnavailable
}
func (unsure) TouchSession(context.Context, *auth.Session, time.Time) error {
	return auth.ErrUnavailable
}
func (unsure) DeleteSession(context.Context, int64, int64) (*auth.Session, error) {
	return nil, auth.ErrUnavailable
}
func (unsure) DeleteSessionsOf(context.Context, int64, int64) (int, error) {
	return 0, auth.ErrUnavailable
}
func (unsure) Rotate(context.Context, *auth.Rotation) (*auth.RotationResult, error) {
	return nil, auth.ErrUnavailable
}
func (unsure) RevokeFamily(context.Context, int64, int64) error { return auth.ErrUnavailable }
func (unsure) UpdateServiceAccount(context.Context, int64, func(*auth.ServiceAccount) error) (*auth.ServiceAccount, error) {
	return nil, auth.ErrUnavailable
}
func (unsure) DeleteServiceAccount(context.Context, int64) (*auth.ServiceAccount, error) {
	return nil, auth.ErrUnavailable
}
func (unsure) UpdateServiceKey(context.Context, int64, func(*auth.ServiceKey) error) (*auth.ServiceKey, error) {
	return nil, auth.ErrUnavailable
}
func (unsure) DeleteServiceKey(context.Context, int64, int64) (*auth.ServiceKey, error) {
	return nil, auth.ErrUnavailable
}
