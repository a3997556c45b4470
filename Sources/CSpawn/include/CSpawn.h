#ifndef PORTAL_CSPAWN_H
#define PORTAL_CSPAWN_H
#include <spawn.h>

/* GNU extensions the Glibc module does not show to Swift. */

/* pipe2(fds, O_CLOEXEC): both ends close-on-exec from the start, so a child spawned
   concurrently on another thread never inherits them. */
int portal_pipe_cloexec(int fds[2]);

/* posix_spawn_file_actions_addchdir_np: the child starts in `path`. */
int portal_spawn_file_actions_addchdir(posix_spawn_file_actions_t *actions, const char *path);

#endif
