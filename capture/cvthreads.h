#ifndef FACEGATE_CVTHREADS_H
#define FACEGATE_CVTHREADS_H
#ifdef __cplusplus
extern "C" {
#endif
void fg_set_num_threads(int n);
int fg_get_num_threads(void);
#ifdef __cplusplus
}
#endif
#endif
