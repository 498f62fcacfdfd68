//go:build !linux

package server

import "errors"

// Elsewhere than Linux every connection keeps a reader goroutine of its own.
type poller struct{}

type pollState struct{}

func newPoller() (*poller, error)   { return nil, errors.New("server: no poller on this system") }
func (p *poller) watch(*client)     {}
func (p *poller) park(*client) bool { return false }
func (p *poller) forget(*client)    {}
func (p *poller) poll()             {}
func (p *poller) start(c *client)   { go c.read(true) }
func (p *poller) close()            {}
