/* The recording loop: the core configured, the board's sensors declared, then frames from the drivers into
 * the core (and through its HAL natives to the SD card) until the core stops. */
#ifndef SHIDI_RECORDER_H
#define SHIDI_RECORDER_H

#include "wasm_export.h"

void recorder_run(wasm_exec_env_t env, wasm_module_inst_t inst);

/*
 * ADAPTER — provisioning's serial bridge and the device conf it stores are not in the HAL ABI yet (the "prov"
 * work adds them). Until then the conf comes from here: *conf points at the CBOR device conf of
 * docs/device-conf.md, or NULL when the device has none (then nothing is recorded). The default, a weak
 * symbol in recorder.c, returns NULL; provisioning replaces it.
 */
const uint8_t *recorder_device_conf(uint32_t *len);

#endif
