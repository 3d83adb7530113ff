/* bale completion bash|zsh: a completion script made from the option tables --help is made
 * from, so it never names an option bale does not have. zsh runs the bash one through
 * bashcompinit. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static void bash_script(const cli_verb *const *verbs, size_t n)
{
	fputs("# bash completion for bale (bale completion bash)\n"
	      "_bale() {\n"
	      "  local cur=${COMP_WORDS[COMP_CWORD]} opts\n"
	      "  if ((COMP_CWORD == 1)); then\n"
	      "    COMPREPLY=($(compgen -W \"",
	      stdout);
	for (size_t i = 0; i < n; i++)
		printf("%s ", verbs[i]->name);
	fputs("help version completion\" -- \"$cur\"))\n"
	      "    return\n"
	      "  fi\n"
	      "  case ${COMP_WORDS[1]} in\n",
	      stdout);
	for (size_t i = 0; i < n; i++) {
		printf("  %s) opts=\"", verbs[i]->name);
		for (const cli_opt *o = verbs[i]->options; o->name || o->help; o++)
			if (o->name) {
				printf("--%s ", o->name);
				if (o->short_name)
					printf("-%c ", o->short_name);
			}
		fputs("\" ;;\n", stdout);
	}
	fputs("  help) COMPREPLY=($(compgen -W \"", stdout);
	for (size_t i = 0; i < n; i++)
		printf("%s ", verbs[i]->name);
	fputs("\" -- \"$cur\")); return ;;\n"
	      "  completion) COMPREPLY=($(compgen -W \"bash zsh\" -- \"$cur\")); return ;;\n"
	      "  version) COMPREPLY=($(compgen -W \"--json\" -- \"$cur\")); return ;;\n"
	      "  *) return ;;\n"
	      "  esac\n"
	      "  if [[ $cur == -* ]]; then\n"
	      "    COMPREPLY=($(compgen -W \"$opts\" -- \"$cur\"))\n"
	      "  else\n"
	      "    COMPREPLY=($(compgen -f -- \"$cur\"))\n"
	      "  fi\n"
	      "}\n"
	      "complete -o filenames -F _bale bale\n",
	      stdout);
}

int cli_completion(int argc, char **argv, const cli_verb *const *verbs, size_t n)
{
	const char *shell = argc > 2 ? argv[2] : "";
	if (argc != 3 || (strcmp(shell, "bash") != 0 && strcmp(shell, "zsh") != 0)) {
		fputs("bale completion: want bash or zsh (bale completion bash >> ~/.bashrc, or\n"
		      "cmake --install puts both where the shells look)\n",
		      stderr);
		return 2;
	}
	if (strcmp(shell, "zsh") == 0)
		fputs("#compdef bale\n# zsh completion for bale (bale completion zsh)\n"
		      "autoload -U +X bashcompinit && bashcompinit\n",
		      stdout);
	bash_script(verbs, n);
	return fflush(stdout) == 0 ? 0 : 1;
}
