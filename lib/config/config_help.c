/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * --help. The VM keys' lines are made from the key table, so their limits
 * and defaults are the numbers the checks use; the rest is prose.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "vv_config.h"
#include "config_private.h"

#define HELP_WIDTH  79
#define HELP_INDENT 23 /* where the text of an option starts */

/* "  lead" then text wrapped under column HELP_INDENT, one line per word
 * that would pass HELP_WIDTH. */
static void
print_item(FILE *f, const char *lead, const char *text)
{
	int col = fprintf(f, "  %s", lead);

	if (col >= HELP_INDENT - 1) {
		fputc('\n', f);
		col = 0;
	}
	while (*text != '\0') {
		size_t word = strcspn(text, " ");

		if (col > HELP_INDENT && col + 1 + (int) word > HELP_WIDTH) {
			fputc('\n', f);
			col = 0;
		}
		if (col < HELP_INDENT)
			col += fprintf(f, "%*s", HELP_INDENT - col, "");
		else
			col += fprintf(f, " ");
		col += fprintf(f, "%.*s", (int) word, text);
		text += word;
		text += strspn(text, " ");
	}
	fputc('\n', f);
}

/* "guest CID, 3 to 4294967294 (default 3)" and the like. */
static void
print_key(FILE *f, const struct config_key *key, const char *lead)
{
	char limits[128], def[96] = "", text[512];

	key->type->limits(key, limits, sizeof(limits));
	if (key->flags & CONFIG_F_REQUIRED)
		snprintf(def, sizeof(def), " (required)");
	else if (key->def != NULL)
		snprintf(def, sizeof(def),
			 isdigit((unsigned char) key->def[0]) ? " (default %s)"
							      : " (default \"%s\")",
			 key->def);
	snprintf(text, sizeof(text), "%s, %s%s%s%s", key->help, limits, def,
		 key->note != NULL ? "; " : "", key->note != NULL ? key->note : "");
	print_item(f, lead, text);
}

static void
print_keys(FILE *f, bool flags)
{
	char lead[64];

	for (unsigned int k = 0; k < n_config_keys; k++) {
		const struct config_key *key = &config_keys[k];

		if (flags != (key->flag != NULL))
			continue;
		if (flags)
			snprintf(lead, sizeof(lead), "--%s %s", key->flag, key->arg);
		else
			snprintf(lead, sizeof(lead), "  %s=%s", key->name, key->arg);
		print_key(f, key, lead);
	}
}

void
vv_config_usage(const char *prog, FILE *stream)
{
	char text[512];
	size_t used;

	fprintf(stream,
		"Usage: %s [EAL args --] [options]\n"
		"\n"
		"virtio-vsock devices for VMs over vhost-user. Guest vsock streams become\n"
		"Unix socket streams on the host (hybrid vsock, as Firecracker and rust-vmm\n"
		"vhost-device-vsock): a guest connecting to port P reaches <uds-path>_P; a\n"
		"host program connects to <uds-path>, writes \"CONNECT <port>\\n\" and reads\n"
		"\"OK <host port>\\n\".\n"
		"SEQPACKET connections (VIRTIO_VSOCK_F_SEQPACKET: message boundaries kept)\n"
		"are SOCK_SEQPACKET sockets at the same places, except that host programs\n"
		"open them through <uds-path>.seqpacket; CONNECT and OK are a message each.\n"
		"\n"
		"Virtqueues are split or packed, as the VMM chooses (QEMU: -device\n"
		"vhost-user-vsock-pci,...,packed=on), with or without indirect descriptors;\n"
		"each start of a guest driver logs what it negotiated (vv.vhost, INFO).\n"
		"\n"
		"EAL: without EAL args the program runs with\n"
		"  --no-pci --no-huge -m 256 --file-prefix vvsock-<first guest CID>\n"
		"  --lcores 0@<cpu>,1@<cpu>   (the first two CPUs it may run on)\n"
		"EAL's -l/--lcores chooses the lcores: the first is the main lcore (control\n"
		"threads only, it does not poll), the others are worker lcores that poll\n"
		"the VMs. Log types for EAL's --log-level: vv.app, vv.vhost, vv.worker,\n"
		"vv.reload, vv.vsock, vv.vsock.data. Telemetry: dpdk-telemetry.py -f <file\n"
		"prefix>, commands under /vsock/.\n"
		"\n"
		"Options take their value as --opt VALUE or --opt=VALUE.\n"
		"\n"
		"One VM:\n",
		prog);
	print_keys(stream, true);

	fprintf(stream, "\nSeveral VMs (--vm and --config exclude each other and the flags "
			"above):\n");
	used = snprintf(text, sizeof(text), "one VM per --vm, with the keys");
	for (unsigned int k = 0; k < n_config_keys && used < sizeof(text); k++)
		used += snprintf(text + used, sizeof(text) - used, "%s %s", k ? "," : "",
				 config_keys[k].name);
	if (used < sizeof(text))
		snprintf(text + used, sizeof(text) - used,
			 " ('-' may replace '_'): those of the flags above, and");
	print_item(stream, "--vm KEY=VAL,...", text);
	print_keys(stream, false);
	fprintf(stream,
		"  --config FILE        YAML file with a top-level 'vms:' list of mappings\n"
		"                       with the same keys, e.g.\n"
		"                         vms:\n"
		"                           - guest_cid: 4\n"
		"                             socket: /tmp/vhost4.socket\n"
		"                             uds_path: /tmp/vm4.vsock\n"
		"                             groups: group1+groupA\n"
		"                             lcore: 1\n"
		"                       SIGHUP (systemctl reload) reads it again: VMs new in\n"
		"                       the file are added, VMs gone from it removed, VMs\n"
		"                       with changed keys restarted (queue_size, and lcore\n"
		"                       where the VM runs, apply in place), the others run\n"
		"                       on untouched; a bad file changes nothing\n"
		"\n"
		"Other options:\n");
	snprintf(text, sizeof(text),
		 "a worker that found no work in 1000 rounds in a row sleeps N microseconds "
		 "between rounds until work comes: saves CPU, adds latency (default 0: busy "
		 "poll; at most %u)",
		 CONFIG_IDLE_SLEEP_US_MAX);
	print_item(stream, "--idle-sleep-us N", text);
	print_item(stream, "-h, --help", "print this help");
	print_item(stream, "-V, --version", "print the version");
}
