package server

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the figures GET /metrics exposes, on a registry of the server's own so two
// servers in one test process do not collide.
type metrics struct {
	reg           *prometheus.Registry
	connections   prometheus.Gauge
	messagesIn    prometheus.Counter
	messagesOut   prometheus.Counter
	answers       *prometheus.CounterVec
	handoffs      *prometheus.CounterVec
	answerSeconds prometheus.Histogram
	replySeconds  prometheus.Histogram
	errors        *prometheus.CounterVec
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		connections: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hotline_ws_connections", Help: "Open WebSocket connections.",
		}),
		messagesIn: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hotline_ws_messages_in_total", Help: "Frames received from clients.",
		}),
		messagesOut: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hotline_ws_messages_out_total", Help: "Frames sent to clients.",
		}),
		answers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hotline_answers_total", Help: "Questions answered by the bot, by language.",
		}, []string{"lang"}),
		handoffs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hotline_handoffs_total", Help: "Questions handed off to a person, by language and reason.",
		}, []string{"lang", "reason"}),
		answerSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "hotline_answer_seconds",
			Help:    "Time the engine took to answer a question.",
			Buckets: []float64{.00005, .0001, .0002, .0005, .001, .002, .005, .01, .025, .05, .1},
		}),
		replySeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "hotline_reply_seconds",
			Help:    "Time from a visitor's message arriving to its reply (or acknowledgement) being queued for the connection: the wait for a worker, the engine and the store.",
			Buckets: []float64{.0005, .001, .002, .005, .01, .015, .025, .05, .1, .25, .5, 1},
		}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hotline_errors_total", Help: "Errors returned to clients, by code.",
		}, []string{"code"}),
	}
	m.reg.MustRegister(m.connections, m.messagesIn, m.messagesOut, m.answers, m.handoffs,
		m.answerSeconds, m.replySeconds, m.errors,
		collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(collectors.MetricsGC, collectors.MetricsScheduler)), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}
