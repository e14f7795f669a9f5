package main

import (
	"context"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
)

// There is no Docker engine where the tests run, so the container files are checked for
// what they must say; `docker compose config` validates the compose file as well where the
// compose plugin is installed.

type composeFile struct {
	Services map[string]struct {
		Image       string         `yaml:"image"`
		Build       any            `yaml:"build"`
		Command     []string       `yaml:"command"`
		Volumes     []string       `yaml:"volumes"`
		Environment map[string]any `yaml:"environment"`
		Ports       []string       `yaml:"ports"`
		DependsOn   map[string]struct {
			Condition string `yaml:"condition"`
		} `yaml:"depends_on"`
		Healthcheck *struct {
			Test     []string `yaml:"test"`
			Interval string   `yaml:"interval"`
		} `yaml:"healthcheck"`
		User string `yaml:"user"`
	} `yaml:"services"`
	Volumes map[string]any `yaml:"volumes"`
}

func TestDockerCompose(t *testing.T) {
	b, err := os.ReadFile("../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	// A misspelt key is silently ignored by YAML decoding but refused by Compose: check
	// every key against the Compose specification's (the part of it a file like this uses).
	var raw map[string]map[string]map[string]any
	if err := yaml.Unmarshal(b, &raw); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	top := map[string]bool{"services": true, "volumes": true, "networks": true, "configs": true, "secrets": true, "name": true}
	var rawTop map[string]any
	_ = yaml.Unmarshal(b, &rawTop)
	for k := range rawTop {
		if !top[k] {
			t.Errorf("unknown top-level key %q", k)
		}
	}
	serviceKeys := strings.Fields(`build image command entrypoint environment env_file ports expose volumes depends_on
		healthcheck restart read_only security_opt user working_dir networks labels logging deploy tmpfs cap_drop
		cap_add ulimits stop_grace_period stop_signal init profiles secrets configs container_name hostname`)
	healthKeys := strings.Fields(`test interval timeout retries start_period start_interval disable`)
	for name, svc := range raw["services"] {
		for k, v := range svc {
			if !slices.Contains(serviceKeys, k) {
				t.Errorf("service %s: unknown key %q", name, k)
			}
			if hc, ok := v.(map[string]any); ok && k == "healthcheck" {
				for hk := range hc {
					if !slices.Contains(healthKeys, hk) {
						t.Errorf("service %s: unknown healthcheck key %q", name, hk)
					}
				}
			}
		}
	}
	redis, ok := c.Services["redis"]
	if !ok {
		t.Fatal("no redis service")
	}
	cmd := strings.Join(redis.Command, " ")
	if !strings.Contains(cmd, "--appendonly yes") || !regexp.MustCompile(`--appendfsync (everysec|always)`).MatchString(cmd) {
		t.Errorf("redis must run with the append-only file on: %q", cmd)
	}
	if !slices.ContainsFunc(redis.Volumes, func(v string) bool {
		name, target, _ := strings.Cut(v, ":")
		_, declared := c.Volumes[name]
		return target == "/data" && declared
	}) {
		t.Errorf("redis's /data must be a declared named volume: %v", redis.Volumes)
	}
	if redis.Healthcheck == nil || !slices.Contains(redis.Healthcheck.Test, "ping") {
		t.Error("redis needs a healthcheck (redis-cli ping)")
	}

	ag, ok := c.Services["authgraph"]
	if !ok {
		t.Fatal("no authgraph service")
	}
	if ag.Build == nil {
		t.Error("authgraph must be built from the Dockerfile")
	}
	if u, _ := ag.Environment["AUTHGRAPH_REDIS_URL"].(string); !strings.HasPrefix(u, "redis://redis:6379") {
		t.Errorf("AUTHGRAPH_REDIS_URL = %q, want the redis service", u)
	}
	if a, _ := ag.Environment["AUTHGRAPH_ADDR"].(string); !strings.HasPrefix(a, "0.0.0.0:") {
		t.Errorf("AUTHGRAPH_ADDR = %q: the container must listen beyond loopback", a)
	}
	if p, _ := ag.Environment["AUTHGRAPH_ADMIN_PASSWORD"].(string); !strings.Contains(p, ":?") {
		t.Errorf("the admin password must come from the operator (${VAR:?}), not the file: %q", p)
	}
	if ag.DependsOn["redis"].Condition != "service_healthy" {
		t.Error("authgraph must wait for a healthy redis")
	}
	if ag.Healthcheck == nil || strings.Join(ag.Healthcheck.Test, " ") != "CMD /authgraph healthcheck" {
		t.Error("authgraph needs its healthcheck (the image has no curl)")
	}
	for _, p := range ag.Ports {
		if strings.Contains(p, "9464") {
			t.Errorf("the metrics port is published (%q): metrics stay on the compose network", p)
		}
	}
	for env := range ag.Environment {
		if _, ok := serverFlags(t)[env]; !ok {
			t.Errorf("docker-compose.yml sets %s, which authgraph does not read", env)
		}
	}

	docker, err := exec.LookPath("docker")
	if err != nil || exec.Command(docker, "compose", "version").Run() != nil {
		t.Log("docker compose not installed: checked the YAML only")
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, docker, "compose", "-f", "../docker-compose.yml", "config", "--quiet").CombinedOutput()
	if err != nil {
		t.Fatalf("docker compose config: %v\n%s", err, out)
	}
}

func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var from []string
	var user, entry string
	var stages []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || strings.HasPrefix(f[0], "#") {
			continue
		}
		switch strings.ToUpper(f[0]) {
		case "FROM":
			from = append(from, f[1])
			stages = append(stages, line)
		case "USER":
			user = f[1]
		case "ENTRYPOINT":
			entry = strings.Join(f[1:], " ")
		}
	}
	if len(from) < 2 {
		t.Fatalf("want a multi-stage build, got FROM %v", from)
	}
	final := from[len(from)-1]
	if !strings.HasPrefix(final, "gcr.io/distroless/static") && final != "scratch" {
		t.Errorf("the final stage must be distroless/static or scratch, not %s", final)
	}
	if user == "" || user == "root" || strings.HasPrefix(user, "0") {
		t.Errorf("the image must run as a non-root user, not %q", user)
	}
	if !strings.Contains(string(b), "CGO_ENABLED=0") {
		t.Error("the binary must be static (CGO_ENABLED=0)")
	}
	if entry != `["/authgraph"]` {
		t.Errorf("ENTRYPOINT %s", entry)
	}
	if !strings.Contains(string(b), `HEALTHCHECK`) {
		t.Error("no HEALTHCHECK")
	}
}
