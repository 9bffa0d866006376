/*
 * The contract between the Go supervisor and the C idle loop (idle.c):
 * the one definition of its names for C. The Go side's names are in
 * idle_contract.go; TestIdleContract checks the two against each other
 * and runs the hand-off both ways.
 */
#ifndef GOVZ_IDLE_H
#define GOVZ_IDLE_H

/* argv: ARGV0 IDLE_VERB IDLE_MODE into C, ARGV0 IDLE_VERB MONITOR_MODE
 * back into Go. IDLE_VERB is internal/reexec's Supervisor. */
#define IDLE_VERB "__govz_supervisor"
#define IDLE_MODE "--idle"
#define MONITOR_MODE "--monitor"

/* IDLE_ENV holds the hand-off: space-separated NAME=DECIMAL pairs, each of
 * IDLE_FIELDS exactly once, in any order:
 *   master   console pty master
 *   log      console log file, -1 without one
 *   control  control socket (listening)
 *   notify   systemd notify socket (datagrams)
 *   fifo     readiness fifo
 *   ring     memfd: uint32 length (native order), then the ring's bytes
 *   pid      the init's host PID
 *   ready    1 when the guest already reported ready, else 0 */
#define IDLE_ENV "GOVZ_SUPERVISOR_IDLE"
#define IDLE_FIELDS(X) X(master) X(log) X(control) X(notify) X(fifo) X(ring) X(pid) X(ready)

/* WAKE_ENV tells Go why C woke it: one of the reasons below. */
#define WAKE_ENV "GOVZ_SUPERVISOR_WAKE"
#define WAKE_ERROR "error"     /* bad hand-off or a poll error: Go goes on */
#define WAKE_EXIT "exit"       /* the init exited (left unreaped) */
#define WAKE_CONTROL "control" /* a connection on the control socket */
#define WAKE_CONSOLE "console" /* reading the console failed */
#define WAKE_NOTIFY "notify"   /* a notify message before ready (unread) */
#define WAKE_READY "ready"     /* a readiness line before ready (unread) */
#define WAKE_SIGNAL "signal:"  /* followed by the signal's number */

#endif
