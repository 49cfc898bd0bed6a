//! tongdao's web console (issue 8).
