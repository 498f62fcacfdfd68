package server

import "context"

// CloseIdleForTest runs the idle janitor once, as its ticker does every minute, and returns
// how many idle conversations it found. Tests drive it with a controlled clock.
func (s *Server) CloseIdleForTest(ctx context.Context) int { return s.hub.closeIdle(ctx) }

// MaintainForTest runs the queue's timers now (dropped agents, departed visitors).
func (s *Server) MaintainForTest(ctx context.Context) { s.hub.desk.maintain(ctx) }

// ParkedForTest counts the connections parked with the poller (no reader goroutine).
func (s *Server) ParkedForTest() int {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	n := 0
	for c := range s.hub.clients {
		if c.parked.Load() {
			n++
		}
	}
	return n
}

// PingAllForTest runs the pinger's round now, as if every parked connection had been silent
// for a whole pong wait when silent is set.
func (s *Server) PingAllForTest(silent bool) {
	if silent {
		s.hub.mu.Lock()
		for c := range s.hub.clients {
			c.lastRead.Store(0)
		}
		s.hub.mu.Unlock()
	}
	s.hub.pingAll(nil, -1)
}

// AfterTokenReadForTest makes fn run in every resuming hello between its read of the
// conversation and taking its room. Set it before clients connect.
func (s *Server) AfterTokenReadForTest(fn func()) { s.hub.afterTokenRead = fn }

// EndRoomForTest makes a room and ends it, as a conversation's last user leaving does.
func (s *Server) EndRoomForTest() {
	if r := s.hub.acquireRoom("test-room"); r != nil {
		s.hub.releaseRoom(r)
	}
}

// RoomsForTest counts the conversations with a room.
func (s *Server) RoomsForTest() int {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	return len(s.hub.rooms)
}
