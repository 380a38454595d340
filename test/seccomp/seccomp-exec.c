/*
 * seccomp-exec LIST -- COMMAND [ARGS...]
 *
 * Runs COMMAND under a seccomp allow-list, the way systemd applies
 * SystemCallFilter= to a unit: every system call named in LIST (one name a
 * line) is allowed, any other kills the process with SIGSYS (systemd's default
 * action, SCMP_ACT_KILL_PROCESS). Names this libseccomp does not know are
 * skipped, as systemd skips them. no_new_privs is set (NoNewPrivileges=yes).
 * Used by test/systemd-unit.test.ts; compiled there with gcc and libseccomp.
 */
#include <errno.h>
#include <seccomp.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc < 4 || strcmp(argv[2], "--") != 0) {
    fprintf(stderr, "usage: seccomp-exec LIST -- COMMAND [ARGS...]\n");
    return 2;
  }
  FILE *list = fopen(argv[1], "r");
  if (list == NULL) {
    perror(argv[1]);
    return 2;
  }
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
  if (ctx == NULL) {
    fprintf(stderr, "seccomp_init failed\n");
    return 2;
  }
  char name[128];
  int allowed = 0;
  while (fscanf(list, "%127s", name) == 1) {
    int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR) continue;
    if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0) == 0) allowed++;
  }
  fclose(list);
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    perror("prctl");
    return 2;
  }
  int rc = seccomp_load(ctx);
  if (rc != 0) {
    fprintf(stderr, "seccomp_load: %s\n", strerror(-rc));
    return 2;
  }
  fprintf(stderr, "seccomp-exec: %d system calls allowed\n", allowed);
  execvp(argv[3], argv + 3);
  perror(argv[3]);
  return 127;
}
