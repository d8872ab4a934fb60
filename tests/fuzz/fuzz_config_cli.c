/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target: the command line through the real parser
 * (vv_config_parse_args, lib/config).
 *
 * The input is argv, arguments separated by NUL bytes, then optionally
 * three NUL bytes and the text of a YAML file: every --config value is
 * replaced by the path of a file holding that text (so --config reaches
 * the YAML reader, and never a FIFO or a device that would block).
 *
 * What must hold: an error says what is wrong (a message, NUL-terminated
 * within its buffer) with one of the documented codes; a configuration
 * the parser accepted passes vv_config_validate, has a VM to run, finds
 * each VM by its CID, and differs from itself in no key.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "vv_config.h"

#define ARGS_MAX 48

static char yaml_path[64];

static void
remove_yaml(void)
{
	unlink(yaml_path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	int fd;

	/* Rewritten every run: in memory (/dev/shm) where there is one. */
	snprintf(yaml_path, sizeof(yaml_path), "%s/vv-fuzz-cli-%d.yaml",
		 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp", (int) getpid());
	fd = open(yaml_path, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0600);
	if (fd < 0)
		abort();
	close(fd);
	atexit(remove_yaml);
	return 0;
}

static void
write_yaml(const uint8_t *p, size_t n)
{
	FILE *f = fopen(yaml_path, "we");

	if (f == NULL)
		abort();
	if (n > 0 && fwrite(p, 1, n, f) != n)
		abort();
	fclose(f);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char err[512];
	char *text = malloc(size + 1), *argv[ARGS_MAX + 2], cfg_eq[80];
	struct vv_config cfg;
	size_t argn = size, i, start = 0;
	int argc = 0, rc;

	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	for (i = 0; i + 2 < size; i++)
		if (data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 0) {
			argn = i;
			break;
		}
	write_yaml(data + (argn < size ? argn + 3 : size), argn < size ? size - argn - 3 : 0);
	argv[argc++] = (char *) (uintptr_t) "dpdk-vhost-vsock";
	for (i = 0; i <= argn && argc <= ARGS_MAX; i++) {
		if (i < argn && text[i] != '\0')
			continue;
		text[i] = '\0';
		argv[argc++] = text + start;
		start = i + 1;
	}
	argv[argc] = NULL;
	for (int a = 1; a < argc; a++) {
		if (strcmp(argv[a], "--config") == 0 && a + 1 < argc) {
			argv[++a] = yaml_path;
		} else if (strncmp(argv[a], "--config=", 9) == 0) {
			snprintf(cfg_eq, sizeof(cfg_eq), "--config=%s", yaml_path);
			argv[a] = cfg_eq;
		}
	}

	memset(err, 0x55, sizeof(err));
	rc = vv_config_parse_args(&cfg, argc, argv, err, sizeof(err));
	check(memchr(err, '\0', sizeof(err)) != NULL || rc == 0);
	if (rc != 0) {
		check(rc == -EINVAL || rc == -ENOENT || rc == -EACCES || rc == -EIO ||
		      rc == -ENOMEM);
		check(err[0] != '\0' && err[0] != 0x55);
	} else if (cfg.action == VV_CONFIG_RUN) {
		check(cfg.n_vms > 0 && cfg.n_vms <= VV_VMS_MAX);
		check(vv_config_validate(&cfg, err, sizeof(err)) == 0);
		for (unsigned int v = 0; v < cfg.n_vms; v++) {
			check(vv_config_vm_find(&cfg, cfg.vms[v].guest_cid) == (int) v);
			check(vv_config_vm_diff(&cfg.vms[v], &cfg.vms[v], NULL, 0) == 0);
		}
	}
	vv_config_free(&cfg);
	free(text);
	return 0;
}
