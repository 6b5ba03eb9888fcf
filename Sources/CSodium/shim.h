#ifndef KAPPA_CSODIUM_SHIM_H
#define KAPPA_CSODIUM_SHIM_H
#include <sodium.h>
#endif
