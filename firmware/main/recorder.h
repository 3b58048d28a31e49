/* The recording loop: provisioning served on the console while idle, then, on a press of the button, the
 * device's provisioned conf and the board's sensors declared and frames from the drivers pushed into the core
 * (and through its HAL natives to the SD card) until a press stops it. */
#ifndef SHIDI_RECORDER_H
#define SHIDI_RECORDER_H

#include "wasm_export.h"

void recorder_run(wasm_exec_env_t env, wasm_module_inst_t inst);

#endif
