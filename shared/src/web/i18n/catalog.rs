//! The page texts, one table per language (every key in every table: a
//! unit test checks it).

use super::Key;
use Key::*;

pub(super) const EN: &[(Key, &str)] = &[
    (SignInTitle, "Sign in to {tenant}"),
    (AsksAccess, "{client} asks for access to your account:"),
    (BasicAccess, "Basic access to your account"),
    (ScopeOpenid, "Confirm who you are (sign you in)"),
    (ScopeProfile, "See your name and profile details"),
    (ScopeEmail, "See your email address"),
    (
        ScopeOfflineAccess,
        "Stay signed in: keep access to your account when you are not using the application",
    ),
    (
        NoStateWarning,
        "Warning: this application did not protect this sign-in against cross-site request forgery (the request has no {state}). Continue only if you started this sign-in yourself.",
    ),
    (Username, "Username"),
    (Password, "Password"),
    (Allow, "Allow"),
    (Deny, "Deny"),
    (
        DecisionHint,
        "Allow signs you in and gives {client} this access. Deny returns you to the application without signing in.",
    ),
    (ErrBadCredentials, "Incorrect username or password."),
    (ErrChooseDecision, "Choose Allow or Deny."),
    (
        ErrThrottled,
        "Too many failed attempts. Wait a few minutes and try again.",
    ),
    (
        ErrMustChangePassword,
        "You must change your password before you can sign in here.",
    ),
    (ReturnAndRetry, "Return to the application and try again."),
    (NotFoundTitle, "Not found"),
    (NotFoundMsg, "There is no such page."),
    (UnknownTenantTitle, "Unknown tenant"),
    (UnknownTenantMsg, "There is no such organisation."),
    (InvalidRequestTitle, "Invalid request"),
    (
        MsgRepeatsClientOrRedirect,
        "The request repeats client_id or redirect_uri.",
    ),
    (MsgNoClientId, "The request has no client_id."),
    (
        MsgUnknownClient,
        "The application (client_id) is not known.",
    ),
    (
        MsgRedirectNotRegistered,
        "The redirect_uri is not registered for this application.",
    ),
    (
        MsgNoRedirectSeveral,
        "The request has no redirect_uri and the application has several registered.",
    ),
    (MsgNotAForm, "The sign-in form was not submitted as a form."),
    (MsgFormRepeatsField, "The form repeats a field."),
    (MsgTooLarge, "The request is too large."),
    (MsgNotUtf8, "The request is not valid UTF-8."),
    (MsgTooLong, "{field} is too long."),
    (SignInRefusedTitle, "Sign-in refused"),
    (
        SignInRefusedMsg,
        "This sign-in form was not sent from this sign-in page. Return to the application and start again.",
    ),
    (SignInExpiredTitle, "Sign-in expired"),
    (
        SignInExpiredMsg,
        "This sign-in form has expired, was already used, or is not valid. Return to the application and start again.",
    ),
    (UnavailableTitle, "Temporarily unavailable"),
    (
        UnavailableMsg,
        "The service is temporarily unavailable. Please try again in a moment.",
    ),
    (InternalTitle, "Something went wrong"),
    (
        InternalMsg,
        "Something went wrong on our side. Please try again in a moment.",
    ),
    (MethodNotAllowedTitle, "Method not allowed"),
    (MethodNotAllowedMsg, "This page cannot be used that way."),
    (
        UsesUpstream,
        "{client} will use your {provider} account (after you sign in, you continue to {provider} to connect it)",
    ),
    (ConnectFailedTitle, "Account not connected"),
    (
        ConnectFailedMsg,
        "This return from the other service has expired, was already used, or was opened in another browser. Nothing was connected.",
    ),
    (SignInOr, "Or sign in with another account:"),
    (SignInWith, "Sign in with {provider}"),
    (SignInNotLinkedTitle, "No account linked"),
    (
        SignInNotLinkedMsg,
        "No account here is linked to the {provider} account you signed in with. Sign in with your username and password instead.",
    ),
    (SignInFailedTitle, "Not signed in"),
    (
        SignInFailedMsg,
        "Signing in with {provider} did not work. Sign in with your username and password instead.",
    ),
    (
        SignInUnavailableMsg,
        "{provider} could not be reached. Try again later, or sign in with your username and password.",
    ),
    (
        SignInWithPassword,
        "Sign in with your username and password",
    ),
];

pub(super) const FR: &[(Key, &str)] = &[
    (SignInTitle, "Connexion à {tenant}"),
    (AsksAccess, "{client} demande l’accès à votre compte\u{a0}:"),
    (BasicAccess, "Un accès de base à votre compte"),
    (ScopeOpenid, "Confirmer votre identité (vous connecter)"),
    (
        ScopeProfile,
        "Voir votre nom et les informations de votre profil",
    ),
    (ScopeEmail, "Voir votre adresse e-mail"),
    (
        ScopeOfflineAccess,
        "Rester connecté\u{a0}: garder l’accès à votre compte quand vous n’utilisez pas l’application",
    ),
    (
        NoStateWarning,
        "Attention\u{a0}: cette application n’a pas protégé cette connexion contre la falsification de requête intersite (la requête n’a pas de {state}). Ne continuez que si vous avez lancé cette connexion vous-même.",
    ),
    (Username, "Nom d’utilisateur"),
    (Password, "Mot de passe"),
    (Allow, "Autoriser"),
    (Deny, "Refuser"),
    (
        DecisionHint,
        "Autoriser vous connecte et donne cet accès à {client}. Refuser vous ramène à l’application sans vous connecter.",
    ),
    (
        ErrBadCredentials,
        "Nom d’utilisateur ou mot de passe incorrect.",
    ),
    (ErrChooseDecision, "Choisissez Autoriser ou Refuser."),
    (
        ErrThrottled,
        "Trop de tentatives échouées. Attendez quelques minutes et réessayez.",
    ),
    (
        ErrMustChangePassword,
        "Vous devez changer votre mot de passe avant de pouvoir vous connecter ici.",
    ),
    (ReturnAndRetry, "Retournez à l’application et réessayez."),
    (NotFoundTitle, "Page introuvable"),
    (NotFoundMsg, "Cette page n’existe pas."),
    (UnknownTenantTitle, "Organisation inconnue"),
    (UnknownTenantMsg, "Cette organisation n’existe pas."),
    (InvalidRequestTitle, "Requête non valide"),
    (
        MsgRepeatsClientOrRedirect,
        "La requête répète client_id ou redirect_uri.",
    ),
    (MsgNoClientId, "La requête n’a pas de client_id."),
    (MsgUnknownClient, "L’application (client_id) est inconnue."),
    (
        MsgRedirectNotRegistered,
        "Le redirect_uri n’est pas enregistré pour cette application.",
    ),
    (
        MsgNoRedirectSeveral,
        "La requête n’a pas de redirect_uri et l’application en a enregistré plusieurs.",
    ),
    (
        MsgNotAForm,
        "Le formulaire de connexion n’a pas été envoyé comme un formulaire.",
    ),
    (MsgFormRepeatsField, "Le formulaire répète un champ."),
    (MsgTooLarge, "La requête est trop volumineuse."),
    (MsgNotUtf8, "La requête n’est pas en UTF-8 valide."),
    (MsgTooLong, "{field} est trop long."),
    (SignInRefusedTitle, "Connexion refusée"),
    (
        SignInRefusedMsg,
        "Ce formulaire de connexion n’a pas été envoyé depuis cette page de connexion. Retournez à l’application et recommencez.",
    ),
    (SignInExpiredTitle, "Connexion expirée"),
    (
        SignInExpiredMsg,
        "Ce formulaire de connexion a expiré, a déjà été utilisé ou n’est pas valide. Retournez à l’application et recommencez.",
    ),
    (UnavailableTitle, "Temporairement indisponible"),
    (
        UnavailableMsg,
        "Le service est temporairement indisponible. Réessayez dans un instant.",
    ),
    (InternalTitle, "Une erreur s’est produite"),
    (
        InternalMsg,
        "Une erreur s’est produite de notre côté. Réessayez dans un instant.",
    ),
    (MethodNotAllowedTitle, "Méthode non autorisée"),
    (
        MethodNotAllowedMsg,
        "Cette page ne peut pas être utilisée de cette façon.",
    ),
    (
        UsesUpstream,
        "{client} utilisera votre compte {provider} (après la connexion, vous continuerez vers {provider} pour le relier)",
    ),
    (ConnectFailedTitle, "Compte non relié"),
    (
        ConnectFailedMsg,
        "Ce retour depuis l’autre service a expiré, a déjà été utilisé ou a été ouvert dans un autre navigateur. Rien n’a été relié.",
    ),
    (SignInOr, "Ou connectez-vous avec un autre compte :"),
    (SignInWith, "Se connecter avec {provider}"),
    (SignInNotLinkedTitle, "Aucun compte relié"),
    (
        SignInNotLinkedMsg,
        "Aucun compte ici n’est relié au compte {provider} avec lequel vous vous êtes connecté. Connectez-vous plutôt avec votre nom d’utilisateur et votre mot de passe.",
    ),
    (SignInFailedTitle, "Connexion non établie"),
    (
        SignInFailedMsg,
        "La connexion avec {provider} n’a pas abouti. Connectez-vous plutôt avec votre nom d’utilisateur et votre mot de passe.",
    ),
    (
        SignInUnavailableMsg,
        "{provider} n’a pas pu être joint. Réessayez plus tard, ou connectez-vous avec votre nom d’utilisateur et votre mot de passe.",
    ),
    (
        SignInWithPassword,
        "Se connecter avec nom d’utilisateur et mot de passe",
    ),
];

pub(super) const NL: &[(Key, &str)] = &[
    (SignInTitle, "Aanmelden bij {tenant}"),
    (AsksAccess, "{client} vraagt toegang tot uw account:"),
    (BasicAccess, "Basistoegang tot uw account"),
    (ScopeOpenid, "Bevestigen wie u bent (u aanmelden)"),
    (ScopeProfile, "Uw naam en profielgegevens bekijken"),
    (ScopeEmail, "Uw e-mailadres bekijken"),
    (
        ScopeOfflineAccess,
        "Aangemeld blijven: toegang tot uw account houden als u de toepassing niet gebruikt",
    ),
    (
        NoStateWarning,
        "Waarschuwing: deze toepassing heeft deze aanmelding niet beschermd tegen cross-site request forgery (het verzoek heeft geen {state}). Ga alleen verder als u deze aanmelding zelf bent begonnen.",
    ),
    (Username, "Gebruikersnaam"),
    (Password, "Wachtwoord"),
    (Allow, "Toestaan"),
    (Deny, "Weigeren"),
    (
        DecisionHint,
        "Toestaan meldt u aan en geeft {client} deze toegang. Weigeren brengt u terug naar de toepassing zonder u aan te melden.",
    ),
    (
        ErrBadCredentials,
        "Onjuiste gebruikersnaam of onjuist wachtwoord.",
    ),
    (ErrChooseDecision, "Kies Toestaan of Weigeren."),
    (
        ErrThrottled,
        "Te veel mislukte pogingen. Wacht een paar minuten en probeer het opnieuw.",
    ),
    (
        ErrMustChangePassword,
        "U moet uw wachtwoord wijzigen voordat u zich hier kunt aanmelden.",
    ),
    (
        ReturnAndRetry,
        "Ga terug naar de toepassing en probeer het opnieuw.",
    ),
    (NotFoundTitle, "Niet gevonden"),
    (NotFoundMsg, "Deze pagina bestaat niet."),
    (UnknownTenantTitle, "Onbekende organisatie"),
    (UnknownTenantMsg, "Deze organisatie bestaat niet."),
    (InvalidRequestTitle, "Ongeldig verzoek"),
    (
        MsgRepeatsClientOrRedirect,
        "Het verzoek herhaalt client_id of redirect_uri.",
    ),
    (MsgNoClientId, "Het verzoek heeft geen client_id."),
    (MsgUnknownClient, "De toepassing (client_id) is onbekend."),
    (
        MsgRedirectNotRegistered,
        "De redirect_uri is niet geregistreerd voor deze toepassing.",
    ),
    (
        MsgNoRedirectSeveral,
        "Het verzoek heeft geen redirect_uri en de toepassing heeft er meerdere geregistreerd.",
    ),
    (
        MsgNotAForm,
        "Het aanmeldformulier is niet als formulier verzonden.",
    ),
    (MsgFormRepeatsField, "Het formulier herhaalt een veld."),
    (MsgTooLarge, "Het verzoek is te groot."),
    (MsgNotUtf8, "Het verzoek is geen geldige UTF-8."),
    (MsgTooLong, "{field} is te lang."),
    (SignInRefusedTitle, "Aanmelding geweigerd"),
    (
        SignInRefusedMsg,
        "Dit aanmeldformulier is niet vanaf deze aanmeldpagina verzonden. Ga terug naar de toepassing en begin opnieuw.",
    ),
    (SignInExpiredTitle, "Aanmelding verlopen"),
    (
        SignInExpiredMsg,
        "Dit aanmeldformulier is verlopen, al gebruikt of niet geldig. Ga terug naar de toepassing en begin opnieuw.",
    ),
    (UnavailableTitle, "Tijdelijk niet beschikbaar"),
    (
        UnavailableMsg,
        "De dienst is tijdelijk niet beschikbaar. Probeer het zo meteen opnieuw.",
    ),
    (InternalTitle, "Er is iets misgegaan"),
    (
        InternalMsg,
        "Er is bij ons iets misgegaan. Probeer het zo meteen opnieuw.",
    ),
    (MethodNotAllowedTitle, "Methode niet toegestaan"),
    (
        MethodNotAllowedMsg,
        "Deze pagina kan niet op deze manier worden gebruikt.",
    ),
    (
        UsesUpstream,
        "{client} gebruikt uw {provider}-account (na het aanmelden gaat u verder naar {provider} om het te koppelen)",
    ),
    (ConnectFailedTitle, "Account niet gekoppeld"),
    (
        ConnectFailedMsg,
        "Deze terugkeer van de andere dienst is verlopen, werd al gebruikt of werd in een andere browser geopend. Er is niets gekoppeld.",
    ),
    (SignInOr, "Of meld u aan met een ander account:"),
    (SignInWith, "Aanmelden met {provider}"),
    (SignInNotLinkedTitle, "Geen account gekoppeld"),
    (
        SignInNotLinkedMsg,
        "Geen enkel account hier is gekoppeld aan het {provider}-account waarmee u zich aanmeldde. Meld u in plaats daarvan aan met uw gebruikersnaam en wachtwoord.",
    ),
    (SignInFailedTitle, "Niet aangemeld"),
    (
        SignInFailedMsg,
        "Aanmelden met {provider} is niet gelukt. Meld u in plaats daarvan aan met uw gebruikersnaam en wachtwoord.",
    ),
    (
        SignInUnavailableMsg,
        "{provider} kon niet worden bereikt. Probeer het later opnieuw, of meld u aan met uw gebruikersnaam en wachtwoord.",
    ),
    (
        SignInWithPassword,
        "Aanmelden met gebruikersnaam en wachtwoord",
    ),
];

pub(super) const DE: &[(Key, &str)] = &[
    (SignInTitle, "Bei {tenant} anmelden"),
    (AsksAccess, "{client} bittet um Zugriff auf Ihr Konto:"),
    (BasicAccess, "Grundlegenden Zugriff auf Ihr Konto"),
    (ScopeOpenid, "Bestätigen, wer Sie sind (Sie anmelden)"),
    (ScopeProfile, "Ihren Namen und Ihre Profilangaben sehen"),
    (ScopeEmail, "Ihre E-Mail-Adresse sehen"),
    (
        ScopeOfflineAccess,
        "Angemeldet bleiben: Zugriff auf Ihr Konto behalten, auch wenn Sie die Anwendung nicht nutzen",
    ),
    (
        NoStateWarning,
        "Warnung: Diese Anwendung hat diese Anmeldung nicht gegen Cross-Site-Request-Forgery geschützt (die Anfrage hat keinen {state}). Fahren Sie nur fort, wenn Sie diese Anmeldung selbst gestartet haben.",
    ),
    (Username, "Benutzername"),
    (Password, "Passwort"),
    (Allow, "Zulassen"),
    (Deny, "Ablehnen"),
    (
        DecisionHint,
        "Zulassen meldet Sie an und gibt {client} diesen Zugriff. Ablehnen bringt Sie ohne Anmeldung zur Anwendung zurück.",
    ),
    (ErrBadCredentials, "Benutzername oder Passwort ist falsch."),
    (ErrChooseDecision, "Wählen Sie Zulassen oder Ablehnen."),
    (
        ErrThrottled,
        "Zu viele fehlgeschlagene Versuche. Warten Sie einige Minuten und versuchen Sie es erneut.",
    ),
    (
        ErrMustChangePassword,
        "Sie müssen Ihr Passwort ändern, bevor Sie sich hier anmelden können.",
    ),
    (
        ReturnAndRetry,
        "Kehren Sie zur Anwendung zurück und versuchen Sie es erneut.",
    ),
    (NotFoundTitle, "Nicht gefunden"),
    (NotFoundMsg, "Diese Seite gibt es nicht."),
    (UnknownTenantTitle, "Unbekannte Organisation"),
    (UnknownTenantMsg, "Diese Organisation gibt es nicht."),
    (InvalidRequestTitle, "Ungültige Anfrage"),
    (
        MsgRepeatsClientOrRedirect,
        "Die Anfrage wiederholt client_id oder redirect_uri.",
    ),
    (MsgNoClientId, "Die Anfrage hat keine client_id."),
    (MsgUnknownClient, "Die Anwendung (client_id) ist unbekannt."),
    (
        MsgRedirectNotRegistered,
        "Die redirect_uri ist für diese Anwendung nicht registriert.",
    ),
    (
        MsgNoRedirectSeveral,
        "Die Anfrage hat keine redirect_uri, und für die Anwendung sind mehrere registriert.",
    ),
    (
        MsgNotAForm,
        "Das Anmeldeformular wurde nicht als Formular gesendet.",
    ),
    (MsgFormRepeatsField, "Das Formular wiederholt ein Feld."),
    (MsgTooLarge, "Die Anfrage ist zu groß."),
    (MsgNotUtf8, "Die Anfrage ist kein gültiges UTF-8."),
    (MsgTooLong, "{field} ist zu lang."),
    (SignInRefusedTitle, "Anmeldung abgelehnt"),
    (
        SignInRefusedMsg,
        "Dieses Anmeldeformular wurde nicht von dieser Anmeldeseite gesendet. Kehren Sie zur Anwendung zurück und beginnen Sie von vorn.",
    ),
    (SignInExpiredTitle, "Anmeldung abgelaufen"),
    (
        SignInExpiredMsg,
        "Dieses Anmeldeformular ist abgelaufen, wurde bereits verwendet oder ist ungültig. Kehren Sie zur Anwendung zurück und beginnen Sie von vorn.",
    ),
    (UnavailableTitle, "Vorübergehend nicht verfügbar"),
    (
        UnavailableMsg,
        "Der Dienst ist vorübergehend nicht verfügbar. Bitte versuchen Sie es gleich noch einmal.",
    ),
    (InternalTitle, "Etwas ist schiefgelaufen"),
    (
        InternalMsg,
        "Bei uns ist etwas schiefgelaufen. Bitte versuchen Sie es gleich noch einmal.",
    ),
    (MethodNotAllowedTitle, "Methode nicht erlaubt"),
    (
        MethodNotAllowedMsg,
        "Diese Seite kann so nicht verwendet werden.",
    ),
    (
        UsesUpstream,
        "{client} wird Ihr {provider}-Konto verwenden (nach der Anmeldung geht es weiter zu {provider}, um es zu verbinden)",
    ),
    (ConnectFailedTitle, "Konto nicht verbunden"),
    (
        ConnectFailedMsg,
        "Diese Rückkehr vom anderen Dienst ist abgelaufen, wurde bereits verwendet oder in einem anderen Browser geöffnet. Es wurde nichts verbunden.",
    ),
    (SignInOr, "Oder mit einem anderen Konto anmelden:"),
    (SignInWith, "Mit {provider} anmelden"),
    (SignInNotLinkedTitle, "Kein Konto verknüpft"),
    (
        SignInNotLinkedMsg,
        "Mit dem {provider}-Konto, mit dem Sie sich angemeldet haben, ist hier kein Konto verknüpft. Melden Sie sich stattdessen mit Benutzername und Passwort an.",
    ),
    (SignInFailedTitle, "Nicht angemeldet"),
    (
        SignInFailedMsg,
        "Die Anmeldung mit {provider} hat nicht geklappt. Melden Sie sich stattdessen mit Benutzername und Passwort an.",
    ),
    (
        SignInUnavailableMsg,
        "{provider} war nicht erreichbar. Versuchen Sie es später erneut oder melden Sie sich mit Benutzername und Passwort an.",
    ),
    (SignInWithPassword, "Mit Benutzername und Passwort anmelden"),
];
