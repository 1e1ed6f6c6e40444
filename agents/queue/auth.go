package queue

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/tlgo/tl/agents/task"
)

// Roles on the bus. What each may do is Permissions.
const (
	// RoleMaster may do everything: publish tasks, create streams and consumers.
	RoleMaster = "master"
	// RoleAgent pulls from the consumers of its queues, acks its deliveries,
	// publishes events, announces itself and hears cancels.
	RoleAgent = "agent"
	// RoleClient (tl submit, tl status, tl cancel) sends control commands to the
	// master and reads the agents' roster and the leader lease.
	RoleClient = "client"
)

// AllQueues in Credentials.Queues lets an agent serve any queue (the local
// agents' credentials).
const AllQueues = "*"

// CredentialsDir is the folder of the home that holds the embedded server's key
// and the credentials of the three roles (HOME/credentials/{master,agent,client}.json).
const CredentialsDir = "credentials"

// keyFile is the embedded server's key in CredentialsDir: whoever holds it can
// make credentials for any role.
const keyFile = "nats.key"

// ErrBadCredentials is wrapped by the errors of a credentials file that cannot be used.
var ErrBadCredentials = errors.New("credentials file not usable")

// Credentials are what a process presents to the embedded NATS server. The
// password is HMAC-SHA256 of the user name under the server's key, and the user
// name says the role, a random id and the queues (for an agent):
// "agent:1f2e3d4c5b6a7988:cpu,cuda". The server checks the password and derives
// the permissions from the user name, so credentials made after the server
// started work at once, and changing the queues breaks the password.
type Credentials struct {
	Role     string   `json:"role"`
	User     string   `json:"user"`
	Password string   `json:"password"`
	Queues   []string `json:"queues,omitempty"`
	// CA is the PEM certificate that a server speaking TLS must present (or
	// that signed it); set, the connection requires TLS and checks it.
	CA string `json:"ca,omitempty"`
}

// String hides the password: credentials printed by mistake (%v, %+v, %s)
// show no secret.
func (c Credentials) String() string {
	return fmt.Sprintf("%s credentials (user %s)", c.Role, c.User)
}

// LogValue hides the password from log/slog, whose JSON handler would
// otherwise write every field.
func (c Credentials) LogValue() slog.Value { return slog.StringValue(c.String()) }

// InboxPrefix is where the replies to this user's requests arrive. It is the
// user's own (its id), and its permissions allow no other inbox, so no agent or
// client reads another's replies (task deliveries, the master's key).
func (c *Credentials) InboxPrefix() string {
	_, id, _, err := parseUser(c.User)
	if err != nil || c.Role == RoleMaster {
		return "" // the default _INBOX; the master may read any subject anyway
	}
	return "_INBOX_" + id
}

// Options are the connection options that present c; nil presents nothing.
func (c *Credentials) Options() []nats.Option {
	if c == nil {
		return nil
	}
	opts := []nats.Option{nats.UserInfo(c.User, c.Password)}
	if p := c.InboxPrefix(); p != "" {
		opts = append(opts, nats.CustomInboxPrefix(p))
	}
	if c.CA != "" {
		opts = append(opts, nats.Secure(pinnedTLS([]byte(c.CA))))
	}
	return opts
}

// pinnedTLS requires the server's certificate to chain to ca. The host name
// is not checked: the same credentials reach the server as 127.0.0.1 on its
// machine and by name from others, and only ca's key could have signed it.
func pinnedTLS(ca []byte) *tls.Config {
	pool := x509.NewCertPool()
	ok := pool.AppendCertsFromPEM(ca)
	return &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: true, // replaced by VerifyPeerCertificate
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			if !ok {
				return errors.New("credentials: field ca holds no PEM certificate")
			}
			if len(raw) == 0 {
				return errors.New("nats server presented no certificate")
			}
			certs := make([]*x509.Certificate, len(raw))
			for i, r := range raw {
				c, err := x509.ParseCertificate(r)
				if err != nil {
					return fmt.Errorf("nats server certificate: %w", err)
				}
				certs[i] = c
			}
			inter := x509.NewCertPool()
			for _, c := range certs[1:] {
				inter.AddCert(c)
			}
			if _, err := certs[0].Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter}); err != nil {
				return fmt.Errorf("nats server certificate is not the one in the credentials: %w", err)
			}
			return nil
		},
	}
}

// caFile is the certificate of the embedded server's TLS in CredentialsDir.
const caFile = "ca.pem"

// HomeCA records certFile (PEM), the embedded server's TLS certificate, in
// HOME/credentials/ca.pem and in the roles' credentials there; "" removes it.
// Credentials made afterwards (tl credentials) carry it too.
func HomeCA(home, certFile string) error {
	dir := filepath.Join(home, CredentialsDir)
	var pem []byte
	if certFile != "" {
		var err error
		if pem, err = os.ReadFile(certFile); err != nil {
			return fmt.Errorf("credentials: TLS certificate: %w", err)
		}
		if !x509.NewCertPool().AppendCertsFromPEM(pem) {
			return fmt.Errorf("credentials: TLS certificate %s: no PEM certificate in it", certFile)
		}
		if err := writePrivate(filepath.Join(dir, caFile), pem); err != nil {
			return err
		}
	} else if err := os.Remove(filepath.Join(dir, caFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("credentials: %w", err)
	}
	for _, role := range []string{RoleMaster, RoleAgent, RoleClient} {
		p := filepath.Join(dir, role+".json")
		c, err := ReadCredentials(p)
		if err != nil {
			return err
		}
		if c.CA == string(pem) {
			continue
		}
		c.CA = string(pem)
		if err := WriteCredentials(p, c); err != nil {
			return err
		}
	}
	return nil
}

// homeCA reads HOME/credentials/ca.pem; "" when there is none.
func homeCA(home string) string {
	b, err := os.ReadFile(filepath.Join(home, CredentialsDir, caFile))
	if err != nil {
		return ""
	}
	return string(b)
}

// Auth is the embedded server's key: it checks credentials and makes new ones.
type Auth struct {
	key     []byte
	ca      string // the server's TLS certificate, given to the credentials it makes
	revoked *revocations
}

// LoadOrCreateAuth reads HOME/credentials/nats.key, creating it (32 random
// bytes, mode 0600, in a 0700 folder) if absent, and writes the master, agent
// and client credentials beside it when they are missing. The files hold
// secrets: they are this user's only.
func LoadOrCreateAuth(home string) (*Auth, error) {
	dir := filepath.Join(home, CredentialsDir)
	if err := privateDir(dir); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, keyFile)
	key, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("credentials: new key: %w", err)
		}
		if err := writePrivate(path, []byte(hex.EncodeToString(key)+"\n")); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, fmt.Errorf("credentials: read the key %s: %w", path, err)
	default:
		key, err = hex.DecodeString(strings.TrimSpace(string(key)))
		if err != nil || len(key) < 16 {
			return nil, fmt.Errorf("%w: key %s: expected at least 32 hex digits", ErrBadCredentials, path)
		}
		if err := os.Chmod(path, 0o600); err != nil {
			return nil, fmt.Errorf("credentials: key %s: %w", path, err)
		}
	}
	a := &Auth{key: key, ca: homeCA(home), revoked: &revocations{path: filepath.Join(dir, revokedFile)}}
	for _, role := range []string{RoleMaster, RoleAgent, RoleClient} {
		p := filepath.Join(dir, role+".json")
		if c, err := ReadCredentials(p); err == nil && a.valid(c.User, c.Password) {
			continue
		}
		var qs []string
		if role == RoleAgent {
			qs = []string{AllQueues}
		}
		c, err := a.New(role, qs)
		if err != nil {
			return nil, err
		}
		if err := WriteCredentials(p, c); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// HomeCredentials reads the credentials of role that a master wrote in home;
// an error wraps os.ErrNotExist when there are none.
func HomeCredentials(home, role string) (*Credentials, error) {
	return ReadCredentials(filepath.Join(home, CredentialsDir, role+".json"))
}

// New makes credentials for role; queues (agents only) are the queues it may
// pull from, AllQueues for any.
func (a *Auth) New(role string, queues []string) (*Credentials, error) {
	switch role {
	case RoleMaster, RoleClient:
		if len(queues) > 0 {
			return nil, fmt.Errorf("credentials for %s: queues are for agents only", role)
		}
	case RoleAgent:
		if len(queues) == 0 {
			return nil, errors.New("credentials for an agent: no queue (name at least one, or * for all)")
		}
		for _, q := range queues {
			if q != AllQueues && !task.ValidName(q) {
				return nil, fmt.Errorf("credentials for an agent: queue %q: not a queue name (letters, digits, '-', '_'), nor *", q)
			}
		}
	default:
		return nil, fmt.Errorf("credentials: role %q: expected master, agent or client", role)
	}
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("credentials: %w", err)
	}
	user := role + ":" + hex.EncodeToString(b[:])
	if role == RoleAgent {
		user += ":" + strings.Join(queues, ",")
	}
	return &Credentials{Role: role, User: user, Password: a.password(user), Queues: slices.Clone(queues), CA: a.ca}, nil
}

func (a *Auth) password(user string) string {
	m := hmac.New(sha256.New, a.key)
	m.Write([]byte("tl nats user\x00" + user))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (a *Auth) valid(user, password string) bool {
	_, id, _, err := parseUser(user)
	if err != nil || (a.revoked != nil && a.revoked.has(id)) {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(a.password(user)), []byte(password)) == 1
}

// parseUser splits "role:id[:queues]".
func parseUser(user string) (role, id string, queues []string, err error) {
	parts := strings.Split(user, ":")
	if len(parts) < 2 || len(parts[1]) != 16 {
		return "", "", nil, fmt.Errorf("user %q: expected role:id[:queues]", user)
	}
	if _, err := hex.DecodeString(parts[1]); err != nil {
		return "", "", nil, fmt.Errorf("user %q: id is not hex", user)
	}
	role, id = parts[0], parts[1]
	switch {
	case role == RoleAgent && len(parts) == 3 && parts[2] != "":
		queues = strings.Split(parts[2], ",")
		for _, q := range queues {
			if q != AllQueues && !task.ValidName(q) {
				return "", "", nil, fmt.Errorf("user %q: queue %q", user, q)
			}
		}
	case (role == RoleMaster || role == RoleClient) && len(parts) == 2:
	default:
		return "", "", nil, fmt.Errorf("user %q: expected master:id, client:id or agent:id:queues", user)
	}
	return role, id, queues, nil
}

// Check is the server's authentication of a client connection: a valid
// password for the user name, then the role's permissions.
func (a *Auth) Check(c server.ClientAuthentication) bool {
	if c.Kind() != server.CLIENT {
		return false
	}
	o := c.GetOpts()
	if o == nil || !a.valid(o.Username, o.Password) {
		return false
	}
	role, id, queues, _ := parseUser(o.Username)
	c.RegisterUser(&server.User{Username: o.Username, Permissions: Permissions(role, id, queues)})
	return true
}

// Permissions are what role may publish and subscribe to; nil (the master's)
// is everything. id names the user's inbox (see Credentials.InboxPrefix);
// queues are an agent's.
func Permissions(role, id string, queues []string) *server.Permissions {
	inbox := "_INBOX_" + id + ".>"
	switch role {
	case RoleAgent:
		pub := []string{
			eventPrefix + "*",
			// The roster (package queue's AgentsBucket): bind, put, delete.
			"$JS.API.STREAM.INFO.KV_" + AgentsBucket,
			"$KV." + AgentsBucket + ".>",
		}
		pub = append(pub, rlAgentPermissions()...) // rl.go
		// The results bucket (DoneBucket): bind and read any entry (a read
		// is checked against the delivery's token), write its queues' only.
		pub = append(pub,
			"$JS.API.STREAM.INFO.KV_"+DoneBucket,
			"$JS.API.DIRECT.GET.KV_"+DoneBucket+".>",
			"$JS.API.STREAM.MSG.GET.KV_"+DoneBucket,
		)
		for _, q := range queues {
			c := ConsumerName(q)
			done := "$KV." + DoneBucket + "." + q + ".>"
			if q == AllQueues {
				c = "*"
				done = "$KV." + DoneBucket + ".>"
			}
			pub = append(pub, done,
				"$JS.API.CONSUMER.INFO."+TasksStream+"."+c,
				"$JS.API.CONSUMER.MSG.NEXT."+TasksStream+"."+c,
				// ack, nak, in-progress and term of its deliveries
				"$JS.ACK."+TasksStream+"."+c+".>",
			)
		}
		return &server.Permissions{
			Publish:   &server.SubjectPermission{Allow: pub},
			Subscribe: &server.SubjectPermission{Allow: []string{inbox, CancelSubject}},
		}
	case RoleClient:
		pub := []string{controlPrefix + "*." + id}
		for _, b := range []string{AgentsBucket, "tl_master_leader"} {
			s := "KV_" + b
			pub = append(pub,
				"$JS.API.STREAM.INFO."+s,
				"$JS.API.DIRECT.GET."+s+".>",
				"$JS.API.STREAM.MSG.GET."+s,
			)
		}
		// A plan too big for one message goes to the object store tl_plans
		// (PlansBucket), which the master creates: put its chunks and meta.
		pub = append(pub,
			"$JS.API.STREAM.INFO.OBJ_tl_plans",
			"$JS.API.DIRECT.GET.OBJ_tl_plans.>",
			"$JS.API.STREAM.MSG.GET.OBJ_tl_plans",
			"$O.tl_plans.C.>",
			"$O.tl_plans.M.>",
		)
		return &server.Permissions{
			Publish:   &server.SubjectPermission{Allow: pub},
			Subscribe: &server.SubjectPermission{Allow: []string{inbox, verdictPrefix + "*"}},
		}
	}
	return nil
}

// ReadCredentials reads a credentials file.
func ReadCredentials(path string) (*Credentials, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("credentials: %w", err)
	}
	var c Credentials
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrBadCredentials, path, err)
	}
	if c.User == "" || c.Password == "" {
		return nil, fmt.Errorf("%w: %s: expected a JSON object with user and password", ErrBadCredentials, path)
	}
	return &c, nil
}

// WriteCredentials writes c to path, readable by this user only.
func WriteCredentials(path string, c *Credentials) error {
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	return writePrivate(path, append(data, '\n'))
}

// writePrivate writes data to path with mode 0600, atomically.
func writePrivate(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("credentials: %w", err)
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, 0o600) // an existing tmp kept its mode
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("credentials: write %s: %w", path, err)
	}
	return nil
}

// privateDir creates dir readable by this user only, narrowing it if it exists.
func privateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("credentials: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("credentials: %w", err)
	}
	return nil
}
