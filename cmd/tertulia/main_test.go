package main

import (
	"flag"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tertulia/tertulia/internal/app"
)

// notFlags are the Config leaves no flag sets, and why.
var notFlags = map[string]string{
	"Logger":      "built from --log-format and --log-level",
	"Now":         "a clock for tests of expiry",
	"ReadyChecks": "added by programs that embed the server, not by users",
}

// leaves lists the Config's leaf fields by path ("Room.History") with their
// values; nested structs are walked, anything else is a leaf.
func leaves(prefix string, v reflect.Value, out map[string]reflect.Value) {
	for i := range v.NumField() {
		f := v.Type().Field(i)
		path := prefix + f.Name
		if f.Type.Kind() == reflect.Struct {
			leaves(path+".", v.Field(i), out)
			continue
		}
		out[path] = v.Field(i)
	}
}

// testValue is a value for flag f unlike its default.
func testValue(t *testing.T, f *flag.Flag) string {
	switch f.Name {
	case "sqlite-sync":
		return "normal"
	case "store":
		return "postgres://tertulia@db.example.com/chat"
	case "trusted-proxies":
		return "10.0.0.0/8"
	case "allowed-origins":
		return "https://chat.example.com"
	case "log-format":
		return "json"
	case "log-level":
		return "debug"
	}
	switch v := f.Value.(flag.Getter).Get().(type) {
	case bool:
		return fmt.Sprint(!v)
	case int, int64, float64:
		return fmt.Sprint(v) + "7"
	case time.Duration:
		return (v + time.Second).String()
	case string:
		return "changed"
	default:
		t.Fatalf("--%s: no test value for %T", f.Name, v)
		return ""
	}
}

// Every Config leaf is set by exactly one flag (or is listed in notFlags),
// and each flag sets what its name says: setting one flag changes exactly
// one leaf.
func TestEveryConfigLeafHasAFlag(t *testing.T) {
	defaults := map[string]reflect.Value{}
	leaves("", reflect.ValueOf(app.DefaultConfig()), defaults)
	setBy := map[string]string{}
	probe := flag.NewFlagSet("probe", flag.ContinueOnError)
	bindFlags(probe, new(app.Config))
	probe.VisitAll(func(f *flag.Flag) {
		cfg := app.DefaultConfig()
		fs := flag.NewFlagSet("tertulia", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		text := bindFlags(fs, &cfg)
		if err := fs.Parse([]string{"--" + f.Name + "=" + testValue(t, f)}); err != nil {
			t.Fatalf("--%s: %v", f.Name, err)
		}
		if err := text.apply(&cfg, io.Discard); err != nil {
			t.Fatalf("--%s: %v", f.Name, err)
		}
		got := map[string]reflect.Value{}
		leaves("", reflect.ValueOf(cfg), got)
		var changed []string
		for path, v := range got {
			if _, skip := notFlags[path]; skip {
				continue
			}
			if !reflect.DeepEqual(v.Interface(), defaults[path].Interface()) {
				changed = append(changed, path)
			}
		}
		switch {
		case f.Name == "log-format" || f.Name == "log-level":
			if len(changed) != 0 {
				t.Errorf("--%s changed %v, want only the logger", f.Name, changed)
			}
		case len(changed) != 1:
			t.Errorf("--%s changed %v, want one Config field", f.Name, changed)
		case setBy[changed[0]] != "":
			t.Errorf("--%s and --%s both set %s", setBy[changed[0]], f.Name, changed[0])
		default:
			setBy[changed[0]] = f.Name
		}
	})
	for path := range defaults {
		if _, ok := notFlags[path]; !ok && setBy[path] == "" {
			t.Errorf("Config.%s has no flag (add one, or say why in notFlags)", path)
		}
	}
}

// Every flag's default is the Config default, and the whole default
// Config is valid.
func TestFlagDefaultsAreTheConfigDefaults(t *testing.T) {
	cfg := app.DefaultConfig()
	fs := flag.NewFlagSet("tertulia", flag.ContinueOnError)
	text := bindFlags(fs, &cfg)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if err := text.apply(&cfg, io.Discard); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	want := app.DefaultConfig()
	cfg.Logger, want.Logger = nil, nil
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("flags with no value give\n%+v\nwant DefaultConfig\n%+v", cfg, want)
	}
}

// A flag on the command line wins over TERTULIA_<NAME>; the environment
// fills the others.
func TestApplyEnvPrecedence(t *testing.T) {
	cfg := app.DefaultConfig()
	fs := flag.NewFlagSet("tertulia", flag.ContinueOnError)
	bindFlags(fs, &cfg)
	if err := fs.Parse([]string{"--history", "3"}); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"TERTULIA_HISTORY": "9", "TERTULIA_FLOOD_LIMIT": "0", "TERTULIA_SSH_ADDR": "127.0.0.1:22"}
	err := applyEnv(fs, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Room.History != 3 || cfg.Room.FloodLimit != 0 || cfg.Listen.SSH != "127.0.0.1:22" {
		t.Errorf("history %d (want 3, from the flag), flood limit %d (want 0, from the environment), ssh %q",
			cfg.Room.History, cfg.Room.FloodLimit, cfg.Listen.SSH)
	}
	env = map[string]string{"TERTULIA_HISTORY": "many"}
	fs = flag.NewFlagSet("tertulia", flag.ContinueOnError)
	bindFlags(fs, &cfg)
	if err := applyEnv(fs, func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err == nil || !strings.Contains(err.Error(), "TERTULIA_HISTORY") {
		t.Errorf("bad TERTULIA_HISTORY: err %v", err)
	}
}
