/* bench_static_child.c - the child of ant-bench floors' spawn and kill floors: linked statically, it writes one byte to fd 3 and ends, or with --pause sleeps until killed. */
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	int idle = argc > 1 && strcmp(argv[1], "--pause") == 0;
	if (idle)
		prctl(PR_SET_PDEATHSIG, SIGKILL);  /* never outlive ant-bench */
	if (write(3, "x", 1) != 1)
		return 1;
	while (idle)
		pause();
	return 0;
}
