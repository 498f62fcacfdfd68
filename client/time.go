package client

import "time"

var timeZero time.Time
