package bench

// Cost is what a workload cost per task on the server and in the client,
// measured beside its throughput. Unlike tasks/s these figures hardly move
// with machine load: a command count does not change at all, and CPU time per
// task moves far less than wall time. bench/peers fills it in.
type Cost struct {
	// Commands is every command redis-server ran per task, INFO commandstats'
	// calls summed: the commands scripts ran with redis.call are counted too.
	Commands float64 `json:"commands_per_task"`
	// Sent is the commands the clients sent per task (top-level: an FCALL
	// counts once, whatever it runs inside), counted in the client; 0 where it
	// is not counted (BullMQ).
	Sent float64 `json:"sent_per_task,omitempty"`
	// Scripts is the FCALL, FCALL_RO, EVALSHA and EVAL calls per task, of
	// those in Commands.
	Scripts float64 `json:"script_calls_per_task"`
	// ServerCPUus is redis-server's CPU time per task in microseconds, user
	// plus system, all threads (INFO cpu).
	ServerCPUus float64 `json:"server_cpu_us_per_task"`
	// ClientCPUus is the client process's CPU time per task in microseconds,
	// user plus system: the Go benchmark process (getrusage), or the Node
	// process for BullMQ.
	ClientCPUus float64 `json:"client_cpu_us_per_task"`
	// Instructions is redis-server's instructions per task under callgrind,
	// the idle server's rate over the same time subtracted; 0 when not run
	// under callgrind.
	Instructions float64 `json:"server_instructions_per_task,omitempty"`
	// PerCommand is Commands by command name (lower case, as commandstats
	// names them): calls and server microseconds per task. A script's
	// microseconds include those of the commands it ran, which are also
	// listed on their own.
	PerCommand map[string]CommandCost `json:"per_command,omitempty"`
}

// CommandCost is one command's share of a Cost.
type CommandCost struct {
	Calls float64 `json:"calls_per_task"`
	Usec  float64 `json:"usec_per_task"`
}
