package server

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// ipLimits tracks, per client address, the open connections and a message rate shared by
// all of them. It forgets an address when its last connection closes.
type ipLimits struct {
	cfg Config
	now func() time.Time

	mu  sync.Mutex
	ips map[string]*ipState
}

type ipState struct {
	conns   int
	limiter *rate.Limiter
}

func newIPLimits(cfg Config, now func() time.Time) *ipLimits {
	return &ipLimits{cfg: cfg, now: now, ips: map[string]*ipState{}}
}

// acquire counts a new connection from ip; it reports false when the address is at its cap.
func (l *ipLimits) acquire(ip string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.ips[ip]
	if st == nil {
		st = &ipState{}
		if l.cfg.IPMessageRate > 0 {
			st.limiter = rate.NewLimiter(rate.Limit(l.cfg.IPMessageRate), max(l.cfg.IPMessageBurst, 1))
		}
		l.ips[ip] = st
	}
	if l.cfg.MaxConnsPerIP > 0 && st.conns >= l.cfg.MaxConnsPerIP {
		if st.conns == 0 {
			delete(l.ips, ip)
		}
		return false
	}
	st.conns++
	return true
}

func (l *ipLimits) release(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if st := l.ips[ip]; st != nil {
		st.conns--
		if st.conns <= 0 {
			delete(l.ips, ip)
		}
	}
}

// allowMessage reports whether ip may send one more message now.
func (l *ipLimits) allowMessage(ip string) bool {
	l.mu.Lock()
	st := l.ips[ip]
	l.mu.Unlock()
	return st == nil || st.limiter == nil || st.limiter.AllowN(l.now(), 1)
}
