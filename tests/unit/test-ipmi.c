#include "check-main.h"
static Suite *s(void) { return suite_create("x"); }
CHECK_MAIN(s)
