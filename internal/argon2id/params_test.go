package argon2id

import "testing"

func TestValidate(t *testing.T) {
	ok := Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}
	tests := []struct {
		name    string
		edit    func(*Params)
		wantErr bool
	}{
		{"small but sane", func(*Params) {}, false},
		{"defaults", func(p *Params) { *p = DefaultParams }, false},
		{"max memory", func(p *Params) { p.Memory = maxMemory }, false},
		{"8 KiB per thread", func(p *Params) { p.Memory, p.Threads = 32, 4 }, false},
		{"max everything", func(p *Params) { *p = Params{maxMemory, maxTime, 255, maxSaltLen, maxKeyLen} }, false},
		{"zero value", func(p *Params) { *p = Params{} }, true},
		{"memory below 8 KiB", func(p *Params) { p.Memory = 7 }, true},
		{"memory below 8 KiB per thread", func(p *Params) { p.Memory, p.Threads = 31, 4 }, true},
		{"memory above 4 GiB", func(p *Params) { p.Memory = maxMemory + 1 }, true},
		{"time 0", func(p *Params) { p.Time = 0 }, true},
		{"time absurd", func(p *Params) { p.Time = maxTime + 1 }, true},
		{"threads 0", func(p *Params) { p.Threads = 0 }, true},
		{"salt too short", func(p *Params) { p.SaltLen = 7 }, true},
		{"salt too long", func(p *Params) { p.SaltLen = maxSaltLen + 1 }, true},
		{"key too short", func(p *Params) { p.KeyLen = 15 }, true},
		{"key too long", func(p *Params) { p.KeyLen = maxKeyLen + 1 }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := ok
			tt.edit(&p)
			if err := p.Validate(); (err != nil) != tt.wantErr {
				t.Errorf("Validate(%+v) = %v, wantErr %v", p, err, tt.wantErr)
			}
		})
	}
}

func TestNewRejectsInvalidParams(t *testing.T) {
	if _, err := New(Params{Memory: 64, Time: 0, Threads: 1, SaltLen: 16, KeyLen: 32}); err == nil {
		t.Fatal("New accepted Time 0")
	}
}
