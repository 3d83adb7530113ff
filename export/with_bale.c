/* bale export --with-bale: the static bale a bundle carries for nodes that have none,
 * named by the architecture its ELF header says (see bale/export.h). */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bale/export.h"

/* OCI's (and Kubernetes') name of an ELF machine, or NULL. */
static const char *arch_of(unsigned machine, int class)
{
	switch (machine) {
	case EM_X86_64:
		return "amd64";
	case EM_AARCH64:
		return "arm64";
	case EM_ARM:
		return "arm";
	case EM_386:
		return "386";
	case EM_S390:
		return class == ELFCLASS64 ? "s390x" : NULL;
	case EM_PPC64:
		return "ppc64le";
	case EM_RISCV:
		return class == ELFCLASS64 ? "riscv64" : NULL;
	default:
		return NULL;
	}
}

/* Does the executable name a program interpreter (it is dynamically linked)? */
static int has_interpreter(int fd, const unsigned char *ident, const void *header, bool *out)
{
	bool wide = ident[EI_CLASS] == ELFCLASS64;
	uint64_t at =
	    wide ? ((const Elf64_Ehdr *)header)->e_phoff : ((const Elf32_Ehdr *)header)->e_phoff;
	unsigned n =
	    wide ? ((const Elf64_Ehdr *)header)->e_phnum : ((const Elf32_Ehdr *)header)->e_phnum;
	size_t each = wide ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr);
	*out = false;
	for (unsigned i = 0; i < n && i < 256 && !*out; i++) {
		union {
			Elf64_Phdr w;
			Elf32_Phdr n;
		} ph;
		if (pread(fd, &ph, each, (off_t)(at + i * each)) != (ssize_t)each)
			return -1;
		*out = (wide ? ph.w.p_type : ph.n.p_type) == PT_INTERP;
	}
	return 0;
}

int bale_export_binary_member(const char *path, char *member, size_t size, bale_error **err)
{
	union {
		unsigned char ident[EI_NIDENT];
		Elf64_Ehdr wide;
		Elf32_Ehdr narrow;
	} h;
	bool dynamic = false;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return bale_error_set_errno(err, BALE_EUSAGE, errno, "--with-bale %s", path);
	ssize_t got = pread(fd, &h, sizeof(h), 0);
	bool elf = got >= (ssize_t)sizeof(Elf32_Ehdr) && memcmp(h.ident, ELFMAG, SELFMAG) == 0 &&
	           (h.ident[EI_CLASS] == ELFCLASS64 ? got >= (ssize_t)sizeof(Elf64_Ehdr)
	                                            : h.ident[EI_CLASS] == ELFCLASS32) &&
	           h.ident[EI_DATA] == ELFDATA2LSB;
	unsigned type = !elf                              ? 0
	                : h.ident[EI_CLASS] == ELFCLASS64 ? h.wide.e_type
	                                                  : h.narrow.e_type;
	unsigned machine = !elf                              ? 0
	                   : h.ident[EI_CLASS] == ELFCLASS64 ? h.wide.e_machine
	                                                     : h.narrow.e_machine;
	const char *arch = elf ? arch_of(machine, h.ident[EI_CLASS]) : NULL;
	int rc = 0;
	if (!elf || (type != ET_EXEC && type != ET_DYN) || !arch)
		rc = bale_error_set(err, BALE_EUSAGE,
		                    "--with-bale %s: not a little-endian Linux executable of a "
		                    "known architecture",
		                    path);
	else if (has_interpreter(fd, h.ident, &h, &dynamic) < 0)
		rc = bale_error_set(err, BALE_EUSAGE,
		                    "--with-bale %s: its program headers cannot be read", path);
	else if (dynamic)
		rc =
		    bale_error_set(err, BALE_EUSAGE,
		                   "--with-bale %s: dynamically linked, it would not run on a node "
		                   "without bale's libraries; build the static bale with "
		                   "scripts/build.sh Static",
		                   path);
	else
		snprintf(member, size, "bale/bin/linux-%s/bale", arch);
	close(fd);
	return rc;
}
