/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target: a YAML file of VMs through the real reader
 * (vv_config_parse_yaml, lib/config, libyaml).
 *
 * What must hold: an error names the file and says what is wrong; a
 * document the reader accepted with at least one VM passes
 * vv_config_validate (the reader runs every per-VM and across-VM check as
 * it goes), and each of its VMs is found by its CID and differs from
 * itself in no key.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "vv_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char err[512];
	struct vv_config cfg;
	int rc;

	memset(&cfg, 0, sizeof(cfg));
	snprintf(cfg.config_file, sizeof(cfg.config_file), "fuzz.yaml");
	memset(err, 0x55, sizeof(err));
	rc = vv_config_parse_yaml(&cfg, (const char *) data, size, err, sizeof(err));
	if (rc != 0) {
		check(rc == -EINVAL || rc == -ENOMEM);
		check(memchr(err, '\0', sizeof(err)) != NULL);
		check(strncmp(err, "fuzz.yaml", 9) == 0);
	} else {
		check(cfg.n_vms <= VV_VMS_MAX);
		if (cfg.n_vms > 0)
			check(vv_config_validate(&cfg, err, sizeof(err)) == 0);
		for (unsigned int v = 0; v < cfg.n_vms; v++) {
			check(vv_config_vm_find(&cfg, cfg.vms[v].guest_cid) == (int) v);
			check(vv_config_vm_diff(&cfg.vms[v], &cfg.vms[v], NULL, 0) == 0);
		}
	}
	vv_config_free(&cfg);
	return 0;
}
