/* TOTP enrolment and the login's second step (owner: issue 16's MFA work). */
#include "api/api.h"

const struct http_route api_mfa_routes[] = {{0}};
const size_t api_mfa_nroutes = 0;
