package server

import "context"

// CloseIdleForTest runs the idle janitor once, as its ticker does every minute, and returns
// how many idle conversations it found. Tests drive it with a controlled clock.
func (s *Server) CloseIdleForTest(ctx context.Context) int { return s.hub.closeIdle(ctx) }

// MaintainForTest runs the queue's timers now (dropped agents, departed visitors).
func (s *Server) MaintainForTest(ctx context.Context) { s.hub.desk.maintain(ctx) }
