/* pace: arguments, subcommands and start-up; nothing else. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "api/api.h"
#include "config/config.h"
#include "http/http.h"
#include "store/store.h"
#include "util/err.h"
#include "util/log.h"

#ifndef PACE_VERSION
#define PACE_VERSION "0.0.0"
#endif
#ifndef PACE_COMMIT
#define PACE_COMMIT "unknown"
#endif

static void usage(FILE *out) {
  fprintf(
      out,
      "pace %s: a backend for fitness and tasks apps\n\n"
      "Usage:\n"
      "  pace serve [--setting value ...]   run the HTTP server\n"
      "  pace migrate [--setting value ...] apply pending database migrations\n"
      "  pace backup FILE [--setting ...]   write a consistent copy of the "
      "live database\n"
      "  pace version                       print the version\n"
      "  pace --help                        this text\n\n",
      PACE_VERSION);
  config_help(out);
}

static bool wants_help(int argc, char **argv) {
  for (int i = 0; i < argc; i++)
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
      return true;
  return false;
}

/* Opens the store and brings its schema to this build's version, or says
 * why it cannot. Returns NULL after logging. */
static struct store *open_store(const struct config *c, bool migrate) {
  struct store *st = NULL;
  int err = store_open(c->database_url, &st);
  if (err != OK) {
    log_error("main", "cannot open the database (%s)", err_name(err));
    return NULL;
  }
  struct store_schema sch;
  err = store_schema_status(st, &sch);
  if (err != OK) {
    log_error("main", "cannot read the schema version (%s)", err_name(err));
    goto fail;
  }
  if (sch.state == STORE_SCHEMA_NEWER) {
    log_error("main",
              "the database was migrated by a newer pace (schema %d, this "
              "build knows %d); refusing to start",
              sch.db_version, sch.code_version);
    goto fail;
  }
  if (sch.state == STORE_SCHEMA_PENDING) {
    if (!migrate) {
      log_error("main",
                "the database schema is at %d, this build needs %d: run `pace "
                "migrate` or set "
                "PACE_AUTO_MIGRATE=on",
                sch.db_version, sch.code_version);
      goto fail;
    }
    int applied = 0;
    err = store_migrate(st, &applied);
    if (err != OK) {
      log_error("main", "migration failed (%s)", err_name(err));
      goto fail;
    }
    log_info("main", "applied %d migrations (schema now %d)", applied,
             sch.code_version);
  }
  return st;
fail:
  store_close(st);
  return NULL;
}

static int ensure_data_dir(const struct config *c) {
  if (mkdir(c->data_dir, 0700) != 0 && errno != EEXIST) {
    log_error("main", "cannot create data directory %s: %s", c->data_dir,
              strerror(errno));
    return -1;
  }
  return 0;
}

static int cmd_serve(struct config *c) {
  if (ensure_data_dir(c) != 0 || config_secret_load(c) != 0)
    return 1;
  struct store *st = open_store(c, c->auto_migrate);
  if (st == NULL)
    return 1;

  int rc = 1;
  struct http_pool *hash =
      http_pool_new("hash", c->hash_threads, c->hash_queue);
  struct http_pool *blocking =
      http_pool_new("blocking", c->blocking_threads, c->blocking_queue);
  struct http_router *rt = http_router_new();
  struct api_deps deps = {
      .store = st,
      .hash_pool = hash,
      .dev_endpoints = c->dev_endpoints,
      .version = PACE_VERSION,
      .commit = PACE_COMMIT,
  };
  if (api_init(&deps, rt) != 0)
    goto out;
  struct http_server_opts o = {
      .host = c->listen_host,
      .port = c->listen_port,
      .threads = c->threads,
      .max_body_bytes = c->max_body_bytes,
      .max_header_bytes = c->max_header_bytes,
      .max_connections = c->max_connections,
      .request_timeout = c->request_timeout,
      .shutdown_timeout = c->shutdown_timeout,
      .access_log = c->access_log,
      .reads_block = strcmp(store_backend(st), "sqlite") != 0,
      .hash_pool = hash,
      .blocking_pool = blocking,
  };
  struct http_server *srv = http_server_start(&o, rt, NULL);
  if (srv == NULL)
    goto out;
  if (!http_server_run_until_signal(srv)) {
    /* Requests still run on the pools: leave them to the process exit. */
    log_info("main", "stopped with requests in flight");
    log_flush();
    _exit(0);
  }
  http_server_free(srv);
  rc = 0;
  log_info("main", "stopped");
out:
  http_pool_free(hash);
  http_pool_free(blocking);
  http_router_free(rt);
  store_close(st);
  log_flush();
  return rc;
}

static int cmd_migrate(struct config *c) {
  if (ensure_data_dir(c) != 0)
    return 1;
  struct store *st = open_store(c, true);
  if (st == NULL)
    return 1;
  store_close(st);
  return 0;
}

static int cmd_backup(struct config *c, const char *path) {
  struct store *st = NULL;
  int err = store_open(c->database_url, &st);
  if (err == OK)
    err = store_backup(st, path);
  store_close(st);
  if (err != OK) {
    log_error("main", "backup to %s failed (%s)", path, err_name(err));
    return 1;
  }
  log_info("main", "wrote a consistent copy of the database to %s", path);
  return 0;
}

int main(int argc, char **argv) {
  if (sodium_init() < 0) {
    fprintf(stderr, "pace: libsodium failed to initialise\n");
    return 1;
  }
  const char *cmd = argc > 1 ? argv[1] : NULL;
  if (cmd == NULL || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 ||
      strcmp(cmd, "help") == 0) {
    usage(stdout);
    return cmd == NULL ? 2 : 0;
  }
  if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
    printf("pace %s (%s)\n", PACE_VERSION, PACE_COMMIT);
    return 0;
  }
  int first = 2;
  const char *backup_path = NULL;
  if (strcmp(cmd, "backup") == 0) {
    if (argc < 3 || strncmp(argv[2], "--", 2) == 0) {
      if (!wants_help(argc - 2, argv + 2)) {
        fprintf(stderr, "pace: backup needs a FILE (pace backup FILE)\n");
        return 2;
      }
    } else {
      backup_path = argv[2];
      first = 3;
    }
  } else if (strcmp(cmd, "serve") != 0 && strcmp(cmd, "migrate") != 0) {
    fprintf(stderr, "pace: unknown command \"%s\" (see pace --help)\n", cmd);
    return 2;
  }
  if (wants_help(argc - first, argv + first)) {
    usage(stdout);
    return 0;
  }

  struct config c;
  if (config_load(&c, argc - first, argv + first, stderr) != 0) {
    config_cleanup(&c);
    return 1;
  }
  log_init(c.log_level, c.log_format);
  int rc;
  if (strcmp(cmd, "serve") == 0)
    rc = cmd_serve(&c);
  else if (strcmp(cmd, "migrate") == 0)
    rc = cmd_migrate(&c);
  else
    rc = cmd_backup(&c, backup_path);
  config_cleanup(&c);
  return rc;
}
