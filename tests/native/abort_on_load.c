/* A delegate library that aborts as soon as it is loaded (a constructor runs at dlopen), standing
 * in for a broken GPU driver package: whoever loads it dies, so only a worker or probe may. */
#include <stdlib.h>

__attribute__((constructor)) static void abort_on_load(void) { abort(); }

void* tflite_plugin_create_delegate(void) { return NULL; }
