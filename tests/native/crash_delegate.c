/* A TFLite external delegate that crashes when created, standing in for a buggy GPU driver.
 * Built by the tests with the system C compiler; loading it is harmless, using it is SIGSEGV. */
#include <stddef.h>

void* tflite_plugin_create_delegate(char** keys, char** values, size_t n, void (*report)(const char*)) {
    (void)keys; (void)values; (void)n; (void)report;
    volatile int* nowhere = (volatile int*)0;
    *nowhere = 1;
    return NULL;
}

void tflite_plugin_destroy_delegate(void* delegate) { (void)delegate; }
