package passkey

import "fmt"

// knownAuthenticators names a few widespread authenticator models by AAGUID, so that a user
// can tell their passkeys apart. The list is deliberately short (the public community list
// has hundreds): an unknown AAGUID is shown as itself, and nothing depends on a name.
var knownAuthenticators = map[string]string{
	"ea9b8d66-4d01-1d21-3ce4-b6b48cb575d4": "Google Password Manager",
	"adce0002-35bc-c60a-648b-0b25f1f05503": "Chrome on Mac",
	"08987058-cadc-4b81-b6e1-30de50dcbe96": "Windows Hello",
	"9ddd1817-af5a-4672-a2b9-3e3dd95000a9": "Windows Hello",
	"6028b017-b1d4-4c02-b4b3-afcdafc96bb2": "Windows Hello",
	"fbfc3007-154e-4ecc-8c0b-6e020557d7bd": "iCloud Keychain",
	"dd4ec289-e01d-41c9-bb89-70fa845d4bf2": "iCloud Keychain (Managed)",
	"bada5566-a7aa-401f-bd96-45619a55120d": "1Password",
	"d548826e-79b4-db40-a3d8-11116f7e8349": "Bitwarden",
	"531126d6-e717-415c-9320-3d9aa6981239": "Dashlane",
	"53414d53-554e-4700-0000-000000000000": "Samsung Pass",
}

// FormatAAGUID writes an AAGUID as a UUID; anything but 16 bytes (none stored) as zeros.
func FormatAAGUID(b []byte) string {
	if len(b) != 16 {
		b = make([]byte, 16)
	}
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// AuthenticatorName answers the model an AAGUID names, or "" when it is not a known one.
func AuthenticatorName(aaguid []byte) string {
	return knownAuthenticators[FormatAAGUID(aaguid)]
}
