package sessioncache

import (
	"context"
	"errors"
	"net"
	"time"

	"github.com/redis/go-redis/v9"
)

// Bus carries invalidation messages between the replicas of a deployment.
type Bus interface {
	// Publish sends msg to every subscriber, this process's included.
	Publish(ctx context.Context, msg []byte) error
	// Run listens until ctx ends. It calls l.Up once it is subscribed (from then on it must
	// deliver every message published), l.Message for each message, and l.Down as soon as
	// it cannot be sure of that any more (a dropped or silent connection), before it tries
	// again.
	Run(ctx context.Context, l Listener)
}

// Listener is told what a Bus hears.
type Listener interface {
	Up()
	Down(err error)
	Message(msg []byte)
}

// RedisBus is a Bus on a Redis pub/sub channel. It works the same on one node, Sentinel and
// Cluster: a Cluster forwards every PUBLISH to all its nodes, so each replica may listen on
// any of them.
type RedisBus struct {
	rdb     redis.UniversalClient
	channel string
	// health is how long a silent subscription is trusted: after that long without a
	// message the bus sends PING, and after as long again without an answer it gives the
	// connection up.
	health time.Duration
}

// NewRedisBus returns a bus on channel of rdb. health bounds how long a silently cut
// subscription goes unnoticed (twice health at most); zero means one second.
func NewRedisBus(rdb redis.UniversalClient, channel string, health time.Duration) *RedisBus {
	if health <= 0 {
		health = time.Second
	}
	return &RedisBus{rdb: rdb, channel: channel, health: health}
}

// Publish implements Bus.
func (b *RedisBus) Publish(ctx context.Context, msg []byte) error {
	return b.rdb.Publish(ctx, b.channel, msg).Err()
}

// Run implements Bus. It resubscribes after a failure, waiting a little longer each time up
// to two seconds.
func (b *RedisBus) Run(ctx context.Context, l Listener) {
	const minWait, maxWait = 20 * time.Millisecond, 2 * time.Second
	wait := minWait
	for ctx.Err() == nil {
		up, err := b.listen(ctx, l)
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		l.Down(err)
		if up {
			wait = minWait
		}
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
		wait = min(2*wait, maxWait)
	}
}

var errSilent = errors.New("sessioncache: the invalidation channel does not answer PING")

// listen subscribes and delivers messages until the subscription fails. It answers whether
// it got as far as being subscribed, and why it stopped.
func (b *RedisBus) listen(ctx context.Context, l Listener) (up bool, err error) {
	ps := b.rdb.Subscribe(ctx)
	defer ps.Close()
	// A receive does not watch ctx: closing the subscription is what ends it at once.
	stop := context.AfterFunc(ctx, func() { _ = ps.Close() })
	defer stop()
	if err := ps.Subscribe(ctx, b.channel); err != nil {
		return false, err
	}
	pinged := false
	for {
		msg, err := ps.ReceiveTimeout(ctx, b.health)
		if err != nil {
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() || ctx.Err() != nil {
				return up, err
			}
			if pinged {
				return up, errSilent
			}
			if err := ps.Ping(ctx); err != nil {
				return up, err
			}
			pinged = true
			continue
		}
		pinged = false
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Channel == b.channel {
				switch m.Kind {
				case "subscribe":
					up = true
					l.Up()
				case "unsubscribe":
					return up, errors.New("sessioncache: unsubscribed")
				}
			}
		case *redis.Message:
			if m.Channel == b.channel {
				l.Message([]byte(m.Payload))
			}
		case *redis.Pong:
		}
	}
}
