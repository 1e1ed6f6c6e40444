// Package redact hides credentials in what the library prints: URLs with a
// password (mongodb://, nats://, postgres://, ...) in flags, logs, errors and
// status views. It is the one place that knows how, so that every command and
// log line hides them the same way.
package redact

import (
	"net/url"
	"regexp"
)

// Mask replaces a password.
const Mask = "xxxxx"

// URL returns u with its password replaced by Mask. A string that is not a URL
// is passed through Text, so a malformed URL with credentials is hidden too.
func URL(u string) string {
	p, err := url.Parse(u)
	if err != nil || p.User == nil {
		return Text(u)
	}
	if _, ok := p.User.Password(); ok {
		p.User = url.UserPassword(p.User.Username(), Mask)
	}
	return p.String()
}

// userinfo matches the "user:password@" part of a URL inside free text: a
// scheme, "://", a user name without separators, a colon, then the password
// up to the last '@' before the host part.
var userinfo = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.-]*://[^:/?#@\s"']*):([^\s"']*)@`)

// Text returns s with the password of every URL in it replaced by Mask, for
// errors and logs that quote a URL inside a longer message.
func Text(s string) string {
	return userinfo.ReplaceAllString(s, "${1}:"+Mask+"@")
}

// Error returns err with the passwords of the URLs in its message hidden; it
// still unwraps to err, so errors.Is and errors.As see through it. Nil stays nil.
func Error(err error) error {
	if err == nil {
		return nil
	}
	return redacted{err}
}

type redacted struct{ err error }

func (r redacted) Error() string { return Text(r.err.Error()) }
func (r redacted) Unwrap() error { return r.err }
