// A Firebase project's functions/index.js, written as README shows it: the package inside the
// firebase-functions blocking triggers, settings from the environment.
// (A deployed project writes require("sf-lead-rule"); the tests load the built pkg/.)
const { beforeUserCreated, beforeUserSignedIn } = require("firebase-functions/v2/identity");
const sf = require("../../../pkg/sf_lead_rule.js");

exports.beforecreated = beforeUserCreated((event) => sf.onFirebaseAuthEvent(event, { secrets: process.env }));
exports.beforesignedin = beforeUserSignedIn((event) => sf.onFirebaseAuthEvent(event, { secrets: process.env }));
