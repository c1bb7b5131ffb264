/* sockopt_lab.c: socket options, measured: what each option really does on this machine. */
/*
 * Usage: sockopt_lab EXPERIMENT [options]
 *
 * EXPERIMENT is one of reuseaddr, nodelay, bufsize, linger, keepalive, rcvtimeo,
 * states, or all (every one, in that order). Each experiment sets socket options on
 * loopback connections inside this process, observes what the kernel does, and prints
 * one JSON object per line on stdout for each measurement (the schema is in the
 * handout, §3 to §10), with a summary for people on stderr.
 *
 * Options (defaults in brackets):
 *   --host ADDR         loopback address or name to use [127.0.0.1]
 *   --rounds N          nodelay: measured rounds with and without TCP_NODELAY [200]
 *   --warmup N          nodelay: unmeasured rounds before those [5]
 *   --sizes A,B,...     bufsize: SO_SNDBUF/SO_RCVBUF requests in bytes
 *                       [2048,4096,8192,16384,32768,65536,262144,1048576,8388608]
 *   --duration-ms MS    bufsize: how long to transfer at each size [300]
 *   --timeout-ms MS     rcvtimeo: the SO_RCVTIMEO to set [250]
 *   --idle S, --intvl S, --count N
 *                       keepalive: TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT [120, 15, 4]
 *   --pause             stop at each pause point until a line arrives on stdin, so
 *                       that `ss -tan` can be run meanwhile (keepalive, states)
 *
 * SIGINT or SIGTERM stops the run; it exits 0.
 * Exit codes: 0 when every experiment ran (whatever it measured), 1 when a system
 * call failed, 2 for bad arguments.
 */
/* Feature macros: POSIX.1-2008 only. */
#define _POSIX_C_SOURCE 200809L

#include "probe.h"
#include "sockopt_lab.h"
#include "sockutil.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#define PROG "sockopt_lab"

struct experiment {
    const char *name;
    int (*run)(const struct lab_opts *o);
};

/* The order of `all`: the quick option checks first, the timing runs after. */
static const struct experiment experiments[] = {
    {"reuseaddr", exp_reuseaddr}, {"nodelay", exp_nodelay},     {"bufsize", exp_bufsize},
    {"linger", exp_linger},       {"keepalive", exp_keepalive}, {"rcvtimeo", exp_rcvtimeo},
    {"states", exp_states},
};
#define N_EXPERIMENTS (sizeof experiments / sizeof experiments[0])

static void on_stop_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

/* No SA_RESTART: a blocked recv() must return EINTR so that the run can end. */
static int install_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_stop_signal;
    if (sigaction(SIGINT, &sa, NULL) == -1 || sigaction(SIGTERM, &sa, NULL) == -1)
        return -1;
    sa.sa_handler = SIG_IGN;
    return sigaction(SIGPIPE, &sa, NULL);
}

static void usage(FILE *to)
{
    fprintf(to,
            "usage: %s reuseaddr|nodelay|bufsize|linger|keepalive|rcvtimeo|states|all\n"
            "       [--host ADDR] [--rounds N] [--warmup N] [--sizes A,B,...] [--duration-ms MS]\n"
            "       [--timeout-ms MS] [--idle S] [--intvl S] [--count N] [--pause]\n", PROG);
}

static void set_defaults(struct lab_opts *o)
{
    static const unsigned long sizes[] = {2048, 4096, 8192, 16384, 32768, 65536,
                                          262144, 1048576, 8388608};

    memset(o, 0, sizeof *o);
    o->host = "127.0.0.1";
    o->rounds = 200;
    o->warmup = 5;
    memcpy(o->sizes, sizes, sizeof sizes);
    o->nsizes = sizeof sizes / sizeof sizes[0];
    o->duration_ms = 300;
    o->timeout_ms = 250;
    o->idle_s = 120;
    o->intvl_s = 15;
    o->count = 4;
}

/* "4096,65536": up to MAX_SIZES sizes from 1 byte to 256 MiB. */
static int parse_sizes(const char *text, struct lab_opts *o)
{
    char copy[512], *tok, *save;

    if (strlen(text) >= sizeof copy)
        return -1;
    strcpy(copy, text);
    o->nsizes = 0;
    for (tok = strtok_r(copy, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
        if (o->nsizes == MAX_SIZES || parse_uint(tok, 256UL << 20, &o->sizes[o->nsizes]) == -1 ||
            o->sizes[o->nsizes] == 0)
            return -1;
        o->nsizes++;
    }
    return o->nsizes > 0 ? 0 : -1;
}

/* A number option within [min, max]; TCP_KEEPIDLE and TCP_KEEPINTVL stop at 32767 s on Linux. */
static int parse_bounded(const char *text, unsigned long min, unsigned long max, unsigned long *out)
{
    return (parse_uint(text, max, out) == 0 && *out >= min) ? 0 : -1;
}

/* 0 with the experiment's name in *name, 1 for --help, -1 for a usage error. */
static int parse_options(int argc, char **argv, struct lab_opts *o, const char **name)
{
    static const struct option longopts[] = {
        {"host", required_argument, NULL, 'H'},    {"rounds", required_argument, NULL, 'r'},
        {"warmup", required_argument, NULL, 'w'},  {"sizes", required_argument, NULL, 's'},
        {"duration-ms", required_argument, NULL, 'd'}, {"timeout-ms", required_argument, NULL, 't'},
        {"idle", required_argument, NULL, 'i'},    {"intvl", required_argument, NULL, 'v'},
        {"count", required_argument, NULL, 'c'},   {"pause", no_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
    };
    int opt, bad = 0;

    set_defaults(o);
    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'H': o->host = optarg; break;
        case 'r': bad |= parse_bounded(optarg, 1, 1000000, &o->rounds); break;
        case 'w': bad |= parse_bounded(optarg, 0, 100000, &o->warmup); break;
        case 's': bad |= parse_sizes(optarg, o); break;
        case 'd': bad |= parse_bounded(optarg, 1, 600000, &o->duration_ms); break;
        case 't': bad |= parse_bounded(optarg, 1, 600000, &o->timeout_ms); break;
        case 'i': bad |= parse_bounded(optarg, 1, 32767, &o->idle_s); break;
        case 'v': bad |= parse_bounded(optarg, 1, 32767, &o->intvl_s); break;
        case 'c': bad |= parse_bounded(optarg, 1, 127, &o->count); break;
        case 'p': o->pause = 1; break;
        case 'h': return 1;
        default: return -1;
        }
    }
    if (bad || argc - optind != 1)
        return -1;
    *name = argv[optind];
    return 0;
}

/* Run one experiment by name, or all of them; -1 if any failed, -2 for an unknown name. */
static int run(const char *name, const struct lab_opts *o)
{
    int all = strcmp(name, "all") == 0, found = 0, rc = 0;
    size_t i;

    for (i = 0; i < N_EXPERIMENTS && !stop_requested; i++) {
        if (!all && strcmp(name, experiments[i].name) != 0)
            continue;
        found = 1;
        if (experiments[i].run(o) == -1)
            rc = -1;
    }
    return found ? rc : -2;
}

int main(int argc, char **argv)
{
    struct lab_opts o;
    const char *name = NULL;
    int rc = parse_options(argc, argv, &o, &name);

    if (rc != 0) {
        usage(rc == 1 ? stdout : stderr);
        return rc == 1 ? 0 : 2;
    }
    if (install_signals() == -1) {
        fprintf(stderr, "%s: sigaction: %s\n", PROG, strerror(errno));
        return 1;
    }
    rc = run(name, &o);
    if (rc == -2) {
        fprintf(stderr, "%s: no experiment named '%s'\n", PROG, name);
        usage(stderr);
        return 2;
    }
    if (stop_requested)
        return 0;
    return rc == 0 ? 0 : 1;
}
