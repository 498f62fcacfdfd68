package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/hotline12367/hotline/server"
	"github.com/hotline12367/hotline/wechat"
)

// wechatConfig is the WeChat bridge's settings: -wechat-token, -wechat-aes-key, -wechat-appid,
// -wechat-secret, -wechat-api (each also HOTLINE_WECHAT_...).
type wechatConfig struct {
	Token, AESKey, AppID, Secret, API string
}

// mountWeChat connects the WeChat bridge at /wechat/callback when a token is set; without one
// the route answers 404. It returns what stops the bridge.
func mountWeChat(srv *server.Server, c wechatConfig, log *slog.Logger) (func(), error) {
	if c.Token == "" {
		srv.Handle("/wechat/callback", http.NotFoundHandler())
		return func() {}, nil
	}
	if c.AppID == "" || c.Secret == "" {
		return nil, errors.New("the WeChat bridge needs -wechat-appid and -wechat-secret with -wechat-token")
	}
	cl, err := wechat.NewClient(wechat.ClientConfig{API: c.API, AppID: c.AppID, Secret: c.Secret, Logger: log})
	if err != nil {
		return nil, err
	}
	srv.AddChannel("wechat", wechat.Sender{Client: cl})
	h, err := wechat.NewHandler(wechat.HandlerConfig{
		Token: c.Token, AESKey: c.AESKey, AppID: c.AppID, Logger: log,
		Deliver: wechat.Bridge(func(ctx context.Context, userID, msgID, kind, text string) error {
			return srv.ChannelMessage(ctx, "wechat", userID, msgID, kind, text)
		}),
	})
	if err != nil {
		return nil, err
	}
	srv.Handle("/wechat/callback", h)
	log.Info("wechat bridge on", "appid", c.AppID, "safe_mode", c.AESKey != "")
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = h.Shutdown(ctx)
	}, nil
}
