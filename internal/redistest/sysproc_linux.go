package redistest

import (
	"os/exec"
	"syscall"
)

// sysProcAttr puts redis-server in its own process group, so that killing the group leaves
// nothing behind, and has the kernel kill it if the test binary dies before its cleanups run
// (a panic or a -timeout).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

func killGroup(cmd *exec.Cmd) { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
