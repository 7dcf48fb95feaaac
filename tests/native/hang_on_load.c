/* A delegate library whose constructor never returns (a driver waiting on hardware that never
 * answers): loading it hangs the process that loads it. Built by the tests: cc -shared -fPIC. */
#include <unistd.h>

__attribute__((constructor)) static void hang_on_load(void) {
    for (;;) {
        sleep(600);
    }
}
